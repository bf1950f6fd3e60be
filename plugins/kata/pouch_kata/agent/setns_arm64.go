package main

// The standard library names no setns(2) system call number.
const sysSetns = 268
const sysFinitModule = 273
