package main

// What PID 1 of a fresh guest does before it serves: the system mounts, the
// kernel modules listed in the initramfs, the virtiofs share the host names
// on the kernel command line, and the virtio-serial port to serve on (no udev
// in the guest makes /dev/virtio-ports/NAME, so the port is found by name in
// sysfs).

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// modulesList names the modules to load, one path a line, dependencies first.
const modulesList = "/etc/pouch-kata/modules"

// SharedDir is where the host's virtiofs share is mounted in the guest.
const SharedDir = "/run/pouch/shared"

func setupGuest() {
	// Each step on the console: a guest that stops on the way says where.
	fmt.Println("pouch-agent: started")
	if err := mountSystem(); err != nil {
		log.Printf("mounting the system directories: %v", err)
	}
	if err := loadModules(modulesList); err != nil {
		log.Printf("loading modules: %v", err)
	}
	fmt.Println("pouch-agent: modules loaded")
	if tag := cmdlineParam("pouch.share"); tag != "" {
		shareTag = tag
		if err := mountShare(tag, SharedDir, time.Second); err != nil {
			log.Printf("virtiofs %s: %v (tried again at create)", tag, err)
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup"} {
		os.MkdirAll(dir, 0o755)
	}
	if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err == nil {
		guestCgroups = true
	} else {
		log.Printf("cgroup2: %v (no limits in this guest)", err)
	}
	// The line the host's boot probe waits for on the console.
	var uts syscall.Utsname
	syscall.Uname(&uts)
	release := make([]byte, 0, len(uts.Release))
	for _, c := range uts.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	fmt.Printf("%s %s\n", readyMarker, release)
}

// readyMarker starts the console line that says the guest is up.
const readyMarker = "pouch-kata-guest-ready"

func loadModules(list string) error {
	f, err := os.Open(list)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		path := strings.TrimSpace(scanner.Text())
		if path == "" {
			continue
		}
		if err := loadModule(path); err != nil {
			log.Printf("insmod %s: %v", path, err)
		}
	}
	return scanner.Err()
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	empty := []byte{0}
	_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(&empty[0])), 0)
	if errno != 0 && errno != syscall.EEXIST {
		return errno
	}
	return nil
}

// shareTag is the virtiofs tag the host named, once PID 1 has read it.
var shareTag string

// mountShare mounts the virtiofs share tag at target; the device may appear a
// while after its module loads on a busy host.
func mountShare(tag, target string, patience time.Duration) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	deadline := time.Now().Add(patience)
	for {
		err := syscall.Mount(tag, target, "virtiofs", 0, "")
		if err == nil || err == syscall.EBUSY {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mounted(target string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && fields[4] == target {
			return true
		}
	}
	return false
}

// awaitRootfs makes sure a root filesystem on the share is there: the share
// mounted (it may have come up after boot) and the directory in it.
func awaitRootfs(rootfs string) error {
	if shareTag != "" && strings.HasPrefix(rootfs, SharedDir+"/") && !mounted(SharedDir) {
		if err := mountShare(shareTag, SharedDir, 10*time.Second); err != nil {
			return fmt.Errorf("the host's share %q did not mount: %v", shareTag, err)
		}
	}
	if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
		return fmt.Errorf("root filesystem %s: not a directory", rootfs)
	}
	return nil
}

// portDevice finds /dev/vportNpM of the virtio-serial port called name.
func portDevice(name string) (string, error) {
	for try := 0; try < 100; try++ {
		ports, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, file := range ports {
			data, err := os.ReadFile(file)
			if err == nil && strings.TrimSpace(string(data)) == name {
				return "/dev/" + filepath.Base(filepath.Dir(file)), nil
			}
		}
		if _, err := os.Stat("/dev/virtio-ports/" + name); err == nil {
			return "/dev/virtio-ports/" + name, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no virtio-serial port named %q", name)
}

// NetworkRequest is what the host tells the guest about its card.
type NetworkRequest struct {
	MAC       string   `json:"mac"`
	MTU       int      `json:"mtu,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Gateways  []string `json:"gateways,omitempty"`
}

// configureNetwork sets up lo and the card with mac (busybox's ip does the
// netlink work): MTU, addresses, up, default routes.
func configureNetwork(n NetworkRequest, run func(argv ...string) (string, error)) error {
	ip := func(args ...string) error {
		out, err := run(append([]string{"/bin/busybox", "ip"}, args...)...)
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := ip("link", "set", "lo", "up"); err != nil {
		return err
	}
	if n.MAC == "" {
		return nil
	}
	card := ""
	for try := 0; try < 100 && card == ""; try++ {
		files, _ := filepath.Glob("/sys/class/net/*/address")
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err == nil && strings.EqualFold(strings.TrimSpace(string(data)), n.MAC) {
				card = filepath.Base(filepath.Dir(file))
			}
		}
		if card == "" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if card == "" {
		return fmt.Errorf("no network card with MAC %s", n.MAC)
	}
	if n.MTU > 0 {
		if err := ip("link", "set", card, "mtu", fmt.Sprint(n.MTU)); err != nil {
			return err
		}
	}
	for _, a := range n.Addresses {
		if err := ip("addr", "add", a, "dev", card); err != nil {
			return err
		}
	}
	if err := ip("link", "set", card, "up"); err != nil {
		return err
	}
	for _, g := range n.Gateways {
		family := "-4"
		if strings.Contains(g, ":") {
			family = "-6"
		}
		if err := ip(family, "route", "add", "default", "via", g, "dev", card); err != nil {
			return err
		}
	}
	return nil
}
