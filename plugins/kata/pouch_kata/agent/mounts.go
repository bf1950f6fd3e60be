package main

// The container's file systems, made in its new mount namespace before the
// chroot: /proc, /sys (read-only), a /dev of its own (a tmpfs with the usual
// device nodes bound from the guest's, devpts, /dev/shm), then the spec's
// mounts in order: binds of what the host shared into the guest, and tmpfs.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

func setupRootfs(rootfs string, mounts []Mount, readonly bool, cgroup string) error {
	at := func(dest string) string { return filepath.Join(rootfs, filepath.Clean("/"+dest)) }
	// A mount point of its own, to be made read-only at the end without its submounts.
	if err := syscall.Mount(rootfs, rootfs, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind the root filesystem: %w", err)
	}
	nodev := uintptr(syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
	if err := mountAt("proc", at("/proc"), "proc", nodev, ""); err != nil {
		return err
	}
	if err := mountAt("sysfs", at("/sys"), "sysfs", nodev|syscall.MS_RDONLY, ""); err != nil {
		return err
	}
	if cgroup != "" { // its own cgroup as its /sys/fs/cgroup, read-only unless asked
		target := at("/sys/fs/cgroup")
		if err := syscall.Mount(cgroup, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the cgroup: %w", err)
		}
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
		if !cgroupWritable(mounts) {
			flags |= syscall.MS_RDONLY
		}
		syscall.Mount("", target, "", flags, "")
	}
	if err := mountAt("tmpfs", at("/dev"), "tmpfs", syscall.MS_NOSUID, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, name := range devices {
		target := at("/dev/" + name)
		if err := touch(target); err != nil {
			return err
		}
		if err := syscall.Mount("/dev/"+name, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", name, err)
		}
	}
	if err := mountAt("devpts", at("/dev/pts"), "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC,
		"newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	os.Symlink("pts/ptmx", at("/dev/ptmx"))
	os.Symlink("/proc/self/fd", at("/dev/fd"))
	if err := mountAt("shm", at("/dev/shm"), "tmpfs", nodev, "mode=1777,size=65536k"); err != nil {
		return err
	}
	for _, m := range mounts {
		if err := specMount(at(m.Destination), m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	if readonly {
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
		if err := syscall.Mount("", rootfs, "", flags, ""); err != nil {
			return fmt.Errorf("make the root filesystem read-only: %w", err)
		}
	}
	return nil
}

func mountAt(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

func touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

var mountFlags = map[string]uintptr{
	"ro":          syscall.MS_RDONLY,
	"nosuid":      syscall.MS_NOSUID,
	"nodev":       syscall.MS_NODEV,
	"noexec":      syscall.MS_NOEXEC,
	"strictatime": syscall.MS_STRICTATIME,
	"relatime":    syscall.MS_RELATIME,
	"noatime":     syscall.MS_NOATIME,
}

// cgroupWritable tells whether the spec asks for a writable /sys/fs/cgroup
// (an init that manages cgroups itself, as systemd does).
func cgroupWritable(mounts []Mount) bool {
	for _, m := range mounts {
		if m.Type == "cgroup" && filepath.Clean(m.Destination) == "/sys/fs/cgroup" {
			for _, o := range m.Options {
				if o == "rw" {
					return true
				}
			}
		}
	}
	return false
}

// made by setupRootfs itself: the spec's versions of these are left out.
var ownMounts = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/dev/pts": true}

func specMount(target string, m Mount) error {
	if ownMounts[filepath.Clean(m.Destination)] {
		return nil
	}
	readonly := false
	var flags uintptr
	var data []string
	bind := m.Type == "bind"
	for _, o := range m.Options {
		switch {
		case o == "bind" || o == "rbind":
			bind = true
		case mountFlags[o] != 0:
			flags |= mountFlags[o]
			readonly = readonly || o == "ro"
		case o == "rw" || strings.HasSuffix(o, "private") || strings.HasSuffix(o, "slave") || strings.HasSuffix(o, "shared"):
		default:
			data = append(data, o)
		}
	}
	if bind {
		st, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else {
			err = touch(target)
		}
		if err != nil {
			return err
		}
		if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return err
		}
		if readonly {
			return syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		}
		return nil
	}
	if m.Type != "tmpfs" {
		return nil // proc, sysfs, devpts, mqueue, cgroup: the standard ones are made above
	}
	return mountAt("tmpfs", target, "tmpfs", flags, strings.Join(data, ","))
}

// maskPaths hides each path of the container (as runc does): /dev/null
// bound over a file, an empty read-only tmpfs over a directory. Paths that
// do not exist, or are symbolic links, are left alone.
func maskPaths(rootfs string, paths []string) error {
	for _, p := range paths {
		target := filepath.Join(rootfs, p)
		st, err := os.Lstat(target)
		if err != nil || st.Mode()&os.ModeSymlink != 0 {
			continue
		}
		if st.IsDir() {
			err = syscall.Mount("tmpfs", target, "tmpfs", syscall.MS_RDONLY, "")
		} else {
			err = syscall.Mount("/dev/null", target, "", syscall.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPaths binds each path of the container over itself read-only.
func readonlyPaths(rootfs string, paths []string) error {
	for _, p := range paths {
		target := filepath.Join(rootfs, p)
		st, err := os.Lstat(target)
		if err != nil || st.Mode()&os.ModeSymlink != 0 {
			continue
		}
		if err := syscall.Mount(target, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC)
		if err := syscall.Mount("", target, "", flags, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	return nil
}
