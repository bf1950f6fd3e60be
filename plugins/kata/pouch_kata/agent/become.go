package main

// What every process of a container goes through just before execve, as
// runc's init does it: the bounding set cut, the user changed with the
// permitted set kept, then the exact capability sets, no_new_privs, and the
// seccomp filter the host compiled. The filter goes in last when
// no_new_privs is asked (so a profile may deny what the steps before need),
// else before the user changes, while CAP_SYS_ADMIN still allows it.
//
// Capabilities and the filter belong to the calling thread, so the caller
// has locked its goroutine to the thread that calls execve (see main).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const (
	prSetSeccomp      = 22
	seccompModeFilter = 2
	execEnv           = "_POUCH_AGENT_EXEC"
)

// become turns the calling process into spec's process running path; it
// returns only on failure.
func become(spec *ProcessSpec, path string) error {
	if err := dropBounding(spec.Capabilities); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if !spec.NoNewPrivileges {
		if err := loadSeccomp(spec.Seccomp); err != nil {
			return err
		}
	}
	if spec.Capabilities != nil {
		// Keep the permitted set across setuid; setCaps then sets it exactly.
		syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_KEEPCAPS, 1, 0)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(spec.GID)); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(int(spec.UID)); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if err := setCaps(spec.Capabilities); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if spec.NoNewPrivileges {
		if err := setNoNewPrivs(); err != nil {
			return err
		}
		if err := loadSeccomp(spec.Seccomp); err != nil {
			return err
		}
	}
	os.Unsetenv(initEnv)
	os.Unsetenv(execEnv)
	return fmt.Errorf("exec %s: %w", path, syscall.Exec(path, spec.Args, spec.Env))
}

// sockFprog is struct sock_fprog: a length in instructions and a pointer.
type sockFprog struct {
	len    uint16
	_      [6]byte
	filter unsafe.Pointer
}

// loadSeccomp installs a classic BPF program (struct sock_filter[]).
func loadSeccomp(program []byte) error {
	if len(program) == 0 {
		return nil
	}
	if len(program)%8 != 0 || len(program)/8 > 0xFFFF {
		return fmt.Errorf("seccomp: a program of %d bytes is no sock_filter array", len(program))
	}
	prog := sockFprog{len: uint16(len(program) / 8), filter: unsafe.Pointer(&program[0])}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}

// execConfig is what the agent hands an exec'd process's helper.
type execConfig struct {
	Rootfs string      `json:"rootfs"`
	Path   string      `json:"path"`
	Spec   ProcessSpec `json:"spec"`
}

// runExec is the agent re-executed with the argument "exec", already in the
// container's namespaces: it enters the root filesystem and becomes the
// exec'd process. Its failures go to the process's stderr, exit code 126.
func runExec() {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "pouch-agent: exec: %v\n", err)
		os.Exit(126)
	}
	var cfg execConfig
	if err := json.Unmarshal([]byte(os.Getenv(execEnv)), &cfg); err != nil {
		fail(fmt.Errorf("config: %w", err))
	}
	if len(cfg.Spec.Args) == 0 {
		fail(errors.New("no args"))
	}
	if err := syscall.Chroot(cfg.Rootfs); err != nil {
		fail(fmt.Errorf("chroot %s: %w", cfg.Rootfs, err))
	}
	cwd := cfg.Spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := syscall.Chdir(cwd); err != nil {
		fail(fmt.Errorf("chdir %s: %w", cwd, err))
	}
	fail(become(&cfg.Spec, cfg.Path))
}
