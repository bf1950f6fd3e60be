package main

// Each container's cgroup in the guest (cgroup v2, mounted by PID 1 at
// /sys/fs/cgroup): pouch/<id>, with the memory, CPU and pids limits the host
// asks for. Its processes (the first one, and each exec) are moved in; the
// container sees it as its /sys/fs/cgroup; its memory.events tell an OOM kill.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const cgroupRoot = "/sys/fs/cgroup"

// Resources are the limits of a container: 0 means none.
type Resources struct {
	Memory    int64  `json:"memory,omitempty"`
	CPUQuota  int64  `json:"cpu_quota,omitempty"`
	CPUPeriod uint64 `json:"cpu_period,omitempty"`
	Pids      int64  `json:"pids,omitempty"`
}

// StatsResult is one sample of a container's cgroup.
type StatsResult struct {
	CPUUsageNs  uint64 `json:"cpu_usage_ns"`
	Memory      uint64 `json:"memory"`
	MemoryLimit uint64 `json:"memory_limit"`
	Pids        uint64 `json:"pids"`
}

// guestCgroups is set by PID 1 of a guest once it has mounted cgroup v2; an
// agent serving on a host (tests) leaves the host's cgroups alone.
var guestCgroups bool

func cgroupAvailable() bool {
	if !guestCgroups {
		return false
	}
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
}

func enableControllers(dir string) {
	os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0o644)
}

// makeCgroup creates the container's cgroup with r's limits; "" where the
// guest has no cgroup v2.
func makeCgroup(id string, r *Resources) (string, error) {
	if !cgroupAvailable() {
		return "", nil
	}
	parent := filepath.Join(cgroupRoot, "pouch")
	enableControllers(cgroupRoot)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	enableControllers(parent)
	path := filepath.Join(parent, id)
	if err := os.Mkdir(path, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if err := applyResources(path, r); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

func applyResources(path string, r *Resources) error {
	if r == nil {
		r = &Resources{}
	}
	write := func(file, value string) error {
		if err := os.WriteFile(filepath.Join(path, file), []byte(value), 0o644); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return nil
	}
	memory := "max"
	if r.Memory > 0 {
		memory = strconv.FormatInt(r.Memory, 10)
	}
	if err := write("memory.max", memory); err != nil {
		return err
	}
	if r.Memory > 0 {
		write("memory.swap.max", "0") // no swap in the guest; absent without CONFIG_MEMCG_SWAP
	}
	period := r.CPUPeriod
	if period == 0 {
		period = 100000
	}
	quota := "max"
	if r.CPUQuota > 0 {
		quota = strconv.FormatInt(r.CPUQuota, 10)
	}
	if err := write("cpu.max", fmt.Sprintf("%s %d", quota, period)); err != nil {
		return err
	}
	pids := "max"
	if r.Pids > 0 {
		pids = strconv.FormatInt(r.Pids, 10)
	}
	return write("pids.max", pids)
}

func joinCgroup(path string, pid int) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(path, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// keyed reads "key value" lines (memory.events, cpu.stat).
func keyed(path string) map[string]uint64 {
	values := map[string]uint64{}
	f, err := os.Open(path)
	if err != nil {
		return values
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 2 {
			n, _ := strconv.ParseUint(fields[1], 10, 64)
			values[fields[0]] = n
		}
	}
	return values
}

func single(path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	return n
}

func oomKilled(path string) bool {
	return path != "" && keyed(filepath.Join(path, "memory.events"))["oom_kill"] > 0
}

func cgroupStats(path string) StatsResult {
	if path == "" {
		return StatsResult{}
	}
	return StatsResult{
		CPUUsageNs:  keyed(filepath.Join(path, "cpu.stat"))["usage_usec"] * 1000,
		Memory:      single(filepath.Join(path, "memory.current")),
		MemoryLimit: single(filepath.Join(path, "memory.max")),
		Pids:        single(filepath.Join(path, "pids.current")),
	}
}
