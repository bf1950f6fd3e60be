package main

// The container's first process starts as this binary re-executed with the
// argument "init", already in new PID, mount, UTS and IPC namespaces (clone
// flags of the agent's fork). It makes the mounts private, mounts /proc of the
// new PID namespace, sets the hostname and chroots into the root filesystem,
// reports "ready" on fd 4 and waits on fd 3 for "start" before it becomes the
// container's process with execve. The agent thus has a real PID at "create"
// and nothing of the user's runs before "start".

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const initEnv = "_POUCH_AGENT_INIT"

// CLONE_NEWCGROUP, which Go's syscall package does not name.
const cloneNewCgroup = 0x02000000

type initConfig struct {
	Rootfs   string            `json:"rootfs"`
	Hostname string            `json:"hostname"`
	Spec     ProcessSpec       `json:"spec"`
	Mounts   []Mount           `json:"mounts,omitempty"`
	Readonly bool              `json:"readonly,omitempty"`
	Sysctls  map[string]string `json:"sysctls,omitempty"`
	Cgroup   string            `json:"cgroup,omitempty"`
	Masked   []string          `json:"masked_paths,omitempty"`
	ReadOnly []string          `json:"readonly_paths,omitempty"`
}

const (
	initStartFd  = 3
	initStatusFd = 4
)

func runInit() {
	status := os.NewFile(initStatusFd, "status")
	start := os.NewFile(initStartFd, "start")
	syscall.CloseOnExec(initStatusFd)
	fail := func(what string, err error) {
		status.Write([]byte(what + ": " + err.Error()))
		os.Exit(1)
	}
	var cfg initConfig
	if err := json.Unmarshal([]byte(os.Getenv(initEnv)), &cfg); err != nil {
		fail("config", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fail("make mounts private", err)
	}
	if cfg.Hostname != "" {
		if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
			fail("sethostname", err)
		}
	}
	if err := setupRootfs(cfg.Rootfs, cfg.Mounts, cfg.Readonly, cfg.Cgroup); err != nil {
		fail("mounts", err)
	}
	if err := applySysctls(cfg.Sysctls); err != nil {
		fail("sysctls", err)
	}
	// After the sysctls, which write below /proc/sys.
	if err := maskPaths(cfg.Rootfs, cfg.Masked); err != nil {
		fail("masked paths", err)
	}
	if err := readonlyPaths(cfg.Rootfs, cfg.ReadOnly); err != nil {
		fail("read-only paths", err)
	}
	if err := syscall.Chroot(cfg.Rootfs); err != nil {
		fail("chroot "+cfg.Rootfs, err)
	}
	cwd := cfg.Spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := syscall.Chdir(cwd); err != nil {
		fail("chdir "+cwd, err)
	}
	if len(cfg.Spec.Args) == 0 {
		fail("process", errors.New("no args"))
	}
	path, err := lookPath("/", cfg.Spec.Args[0], cfg.Spec.Env)
	if err != nil {
		fail("exec", err)
	}
	status.Write([]byte{0})
	buf := make([]byte, 1)
	if n, _ := start.Read(buf); n == 0 {
		os.Exit(1) // the agent let go of the container before starting it
	}
	start.Close()
	if cfg.Cgroup != "" {
		// The agent has put this process in the container's cgroup by now: a
		// cgroup namespace rooted there makes /proc/self/cgroup agree with the
		// /sys/fs/cgroup it sees (as docker's private cgroupns on cgroup v2).
		if err := syscall.Unshare(cloneNewCgroup); err != nil {
			status.Write([]byte("cgroup namespace: " + err.Error()))
			os.Exit(1)
		}
	}
	status.Write([]byte(become(&cfg.Spec, path).Error()))
	os.Exit(1)
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds name the way execvp would, in PATH of env, below root
// (the container's root seen from where the caller stands). The result is
// the path inside the container.
func lookPath(root, name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	search := defaultPath
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			search = kv[len("PATH="):]
		}
	}
	for _, dir := range filepath.SplitList(search) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		st, err := os.Stat(filepath.Join(root, candidate))
		if err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", errors.New(name + ": executable file not found in $PATH")
}
