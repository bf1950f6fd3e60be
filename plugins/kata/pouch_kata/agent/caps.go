package main

// Capabilities, no_new_privs and sysctls of the container's first process:
// the bounding set is cut before the user changes, the other sets are set
// after (as runc does).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// Capabilities are the OCI process's sets, by capability name ("CAP_CHOWN").
type Capabilities struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

const (
	prCapbsetDrop     = 24
	prCapAmbient      = 47
	prCapAmbientRaise = 2
	prSetNoNewPrivs   = 38
	capV3             = 0x20080522
)

func capMask(names []string) (uint64, error) {
	var mask uint64
	for _, name := range names {
		short := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
		found := false
		for i, known := range capNames {
			if known == short {
				mask |= 1 << uint(i)
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown capability %q", name)
		}
	}
	return mask, nil
}

func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	n := len(capNames) - 1
	if err == nil {
		fmt.Sscanf(strings.TrimSpace(string(data)), "%d", &n)
	}
	return n
}

// dropBounding removes from the bounding set what caps.Bounding leaves out.
func dropBounding(caps *Capabilities) error {
	if caps == nil {
		return nil
	}
	keep, err := capMask(caps.Bounding)
	if err != nil {
		return err
	}
	for i := 0; i <= lastCap(); i++ {
		if keep&(1<<uint(i)) == 0 {
			if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(i), 0); errno != 0 {
				return fmt.Errorf("drop capability %d: %v", i, errno)
			}
		}
	}
	return nil
}

type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

// setCaps sets the effective, permitted, inheritable and ambient sets.
func setCaps(caps *Capabilities) error {
	if caps == nil {
		return nil
	}
	var masks [3]uint64
	for i, names := range [][]string{caps.Effective, caps.Permitted, caps.Inheritable} {
		m, err := capMask(names)
		if err != nil {
			return err
		}
		masks[i] = m
	}
	header := capHeader{version: capV3}
	data := [2]capData{}
	for i := 0; i < 2; i++ {
		shift := uint(32 * i)
		data[i] = capData{uint32(masks[0] >> shift), uint32(masks[1] >> shift), uint32(masks[2] >> shift)}
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&header)),
		uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("capset: %v", errno)
	}
	ambient, err := capMask(caps.Ambient)
	if err != nil {
		return err
	}
	for i := 0; i <= lastCap(); i++ {
		if ambient&(1<<uint(i)) != 0 {
			syscall.RawSyscall6(syscall.SYS_PRCTL, prCapAmbient, prCapAmbientRaise, uintptr(i), 0, 0, 0)
		}
	}
	return nil
}

func setNoNewPrivs() error {
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("no_new_privs: %v", errno)
	}
	return nil
}

// applySysctls writes each key (net.ipv4.ip_forward) under /proc/sys; the
// process is already in the container's IPC and UTS namespaces.
func applySysctls(sysctls map[string]string) error {
	for key, value := range sysctls {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", key, err)
		}
	}
	return nil
}
