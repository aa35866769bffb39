"""Bridges, veth pairs, IPAM, the firewall rules and the DNS server of berth's networks."""
