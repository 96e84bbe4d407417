package fakes

import (
	"encoding/binary"
	"net"
	"strings"
)

// DNS answers A queries for a few names over UDP (RFC 1035), for tests
// whose platform is reached by name (Equinix Metal's metadata.packet.net,
// CloudStack's data-server) inside a network namespace: other names get
// NXDOMAIN, other query types of a known name an empty answer. Names match
// with or without a search-domain suffix.
type DNS struct {
	A map[string]net.IP // lower-case name without the final dot
}

// Serve answers on pc until it is closed.
func (d *DNS) Serve(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			pc.WriteTo(resp, addr)
		}
	}
}

func (d *DNS) lookup(name string) (net.IP, bool) {
	for k, ip := range d.A {
		if name == k || strings.HasPrefix(name, k+".") {
			return ip, true
		}
	}
	return nil, false
}

func (d *DNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	// the question: labels, then type and class
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	ip, known := d.lookup(strings.ToLower(strings.Join(labels, ".")))
	resp := make([]byte, 12, 64)
	copy(resp, q[:2])
	flags := uint16(0x8180) // response, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	resp = append(resp, question...)
	if known && qtype == 1 && ip.To4() != nil {
		binary.BigEndian.PutUint16(resp[6:], 1)
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, ip.To4()...)
	}
	return resp
}
