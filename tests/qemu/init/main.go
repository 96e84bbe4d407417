// Command init is PID 1 of the QEMU test guests: it mounts the kernel
// filesystems, loads the modules listed in /modules.list, runs each line of
// /test.cmd (a command with its arguments, or a builtin: "@cat FILE",
// "@write FILE TEXT...", "@mkdir DIR", "@env KEY=VALUE" for the commands
// after it, "@ifup IFACE ADDR/PREFIX") printing its output between markers
// on the console, and powers the guest off.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"}, {"tmpfs", "/run", "tmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			fmt.Printf("INIT mount %s: %v\n", m.dst, err)
		}
	}
	if b, err := os.ReadFile("/modules.list"); err == nil {
		for _, ko := range strings.Fields(string(b)) {
			f, err := os.Open(ko)
			if err == nil {
				err = unix.FinitModule(int(f.Fd()), "", 0)
				f.Close()
			}
			if err != nil && err != unix.EEXIST {
				fmt.Printf("INIT module %s: %v\n", ko, err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // let devices probe
	f, err := os.Open("/test.cmd")
	if err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			args := strings.Fields(line)
			if args[0] == "@ifup" { // @ifup IFACE ADDR/PREFIX: bring up an interface
				err := ifup(args[1], args[2])
				fmt.Printf("CMD-BEGIN %s\n%v\nCMD-END rc=%d\n", line, err, map[bool]int{true: 0, false: 1}[err == nil])
				continue
			}
			if b, ok := builtin(line, args); ok {
				fmt.Printf("CMD-BEGIN %s\n%s\nCMD-END rc=%d\n", line, b.out, b.rc)
				continue
			}
			if args[0] == "@cat" { // a builtin: the guest has no coreutils
				b, err := os.ReadFile(args[1])
				fmt.Printf("CMD-BEGIN %s\n%s\nCMD-END rc=%d\n", line, b, map[bool]int{true: 0, false: 1}[err == nil])
				continue
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), "PATH=/bin:/sbin:/usr/bin:/usr/sbin")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				code = -1
				out = append(out, []byte(err.Error())...)
			}
			fmt.Printf("CMD-BEGIN %s\n%s\nCMD-END rc=%d\n", line, out, code)
		}
	}
	fmt.Println("E2E-DONE")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

type result struct {
	out string
	rc  int
}

// builtin runs the builtins that need no program in the guest.
func builtin(line string, args []string) (result, bool) {
	res := func(err error) (result, bool) {
		if err != nil {
			return result{err.Error(), 1}, true
		}
		return result{"", 0}, true
	}
	switch {
	case args[0] == "@env" && len(args) == 2:
		k, v, _ := strings.Cut(args[1], "=")
		return res(os.Setenv(k, v))
	case args[0] == "@mkdir" && len(args) == 2:
		return res(os.MkdirAll(args[1], 0o755))
	case args[0] == "@write" && len(args) >= 2:
		text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "@write")), args[1]))
		return res(os.WriteFile(args[1], []byte(text+"\n"), 0o644))
	}
	return result{}, false
}

// ifup gives an interface an IPv4 address and brings it and lo up, with
// the ioctls ifconfig uses (the guest has no ip tool).
func ifup(name, cidr string) error {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	up := func(n string) error {
		ifr, err := unix.NewIfreq(n)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
		return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	if err := up("lo"); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := ifr.SetInet4Addr(ip.To4()); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	mask, _ := unix.NewIfreq(name)
	mask.SetInet4Addr(net.IP(ipnet.Mask).To4())
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, mask); err != nil {
		return fmt.Errorf("netmask: %w", err)
	}
	return up(name)
}
