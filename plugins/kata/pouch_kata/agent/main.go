// pouch-agent: the guest agent of pouch's kata runtime.
//
// As PID 1 of the VM it mounts /proc, /sys, /dev and /dev/pts, then serves
// the host on the virtio-serial port named on the kernel command line
// (pouch.agent_port=NAME, so /dev/virtio-ports/NAME). Anywhere else, for
// tests, it serves on --listen unix:PATH or --listen stdio. The protocol is
// in frame.go and messages.go; the processes in process.go.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Capabilities and the seccomp filter are the calling thread's:
		// everything up to execve stays on this one.
		runtime.LockOSThread()
		runInit()
		return
	}
	listen := flag.String("listen", "", "unix:PATH, stdio or port:NAME (default as PID 1: the port on the kernel command line)")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Printf("pouch-agent %s (protocol %d)\n", Version, ProtocolVersion)
		return
	}
	log.SetPrefix("pouch-agent: ")
	pid1 := os.Getpid() == 1
	if pid1 {
		setupGuest()
		if *listen == "" {
			if name := cmdlineParam("pouch.agent_port"); name != "" {
				*listen = "port:" + name
			}
		}
	}
	if *listen == "" {
		log.Fatal("no --listen given (and no pouch.agent_port= on the kernel command line)")
	}
	var server *Server
	server = NewServer(func() {
		if pid1 {
			syscall.Sync()
			syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
		}
		os.Exit(0)
	})
	server.agent.Reap()
	if err := run(server, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(server *Server, listen string) error {
	switch {
	case listen == "stdio":
		return server.Serve(stdStreams{})
	case strings.HasPrefix(listen, "unix:"):
		path := strings.TrimPrefix(listen, "unix:")
		os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			return err
		}
		// One host connection at a time; the processes outlive a connection
		// (the next one re-attaches and gets the events kept meanwhile).
		for {
			conn, err := l.Accept()
			if err != nil {
				return err
			}
			if err := server.Serve(conn); err != nil {
				log.Printf("connection: %v", err)
			}
			conn.Close()
		}
	case strings.HasPrefix(listen, "port:"):
		path, err := portDevice(strings.TrimPrefix(listen, "port:"))
		if err != nil {
			return err
		}
		log.Printf("serving on %s", path)
		for {
			port, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			// The port stays open while nobody is on the host end (reads see
			// EOF until someone connects): closing it would discard what a host
			// that connected meanwhile had already sent.
			for {
				err = server.Serve(port)
				if err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			log.Printf("%s: %v", path, err)
			port.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}
	return fmt.Errorf("--listen %q: expected unix:PATH, stdio or port:NAME", listen)
}

type stdStreams struct{}

func (stdStreams) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdStreams) Write(b []byte) (int, error) { return os.Stdout.Write(b) }

// mountSystem gives PID 1 of a fresh guest the file systems it needs.
func mountSystem() error {
	mounts := []struct{ source, target, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"},
	}
	for _, m := range mounts {
		os.MkdirAll(m.target, 0o755)
		if err := syscall.Mount(m.source, m.target, m.fstype, 0, m.data); err != nil && err != syscall.EBUSY {
			return fmt.Errorf("mount %s: %w", m.target, err)
		}
	}
	// /dev/ptmx must be the devpts instance's, whatever devtmpfs put there.
	os.Remove("/dev/ptmx")
	return os.Symlink("pts/ptmx", "/dev/ptmx")
}

func cmdlineParam(key string) string {
	data, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return paramOf(string(data), key)
}

// paramOf finds key=VALUE among the words of a kernel command line.
func paramOf(cmdline, key string) string {
	for _, field := range strings.Fields(cmdline) {
		if strings.HasPrefix(field, key+"=") {
			return strings.TrimPrefix(field, key+"=")
		}
	}
	return ""
}
