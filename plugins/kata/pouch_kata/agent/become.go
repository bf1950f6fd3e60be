package main

// What a container's first process goes through just before execve, as
// runc's init does it (become): the bounding set cut, the user changed with
// the permitted set kept, then the exact capability sets, no_new_privs, and
// the seccomp filter the host compiled. The filter goes in last when
// no_new_privs is asked (so a profile may deny what the steps before need),
// else before the user changes, while CAP_SYS_ADMIN still allows it. An
// exec'd process inherits the same from the thread that forks it (confine).
//
// Capabilities and the filter belong to the calling thread, so the caller
// has locked its goroutine to the thread that calls execve or fork.

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const (
	prSetSeccomp      = 22
	seccompModeFilter = 2
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

// confine gives the calling thread what an exec'd process must have from
// the start: the container's bounding set, no_new_privs when asked and its
// seccomp filter. The thread is about to fork the process (after joining the
// container's namespaces: the filter may deny setns) and then ends; for root
// the bounding set is what execve leaves of the capabilities, for another
// user setuid clears them, as with runc's defaults.
func confine(spec *ProcessSpec) error {
	if err := dropBounding(spec.Capabilities); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if spec.NoNewPrivileges {
		if err := setNoNewPrivs(); err != nil {
			return err
		}
	}
	return loadSeccomp(spec.Seccomp)
}
