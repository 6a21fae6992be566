import FibfastCore
import XCTest

final class SysctlTests: XCTestCase {
    func testPlainNames() {
        XCTAssertEqual(Sysctl.path("net.ipv4.ip_forward"), "/proc/sys/net/ipv4/ip_forward")
        XCTAssertEqual(Sysctl.path("net.ipv6.conf.all.forwarding"), "/proc/sys/net/ipv6/conf/all/forwarding")
    }

    /// A VLAN port (eth0.100) is one directory under /proc/sys, not two:
    /// sysctl(8) writes its dot as '/'.
    func testInterfaceNamesWithDots() {
        XCTAssertEqual(Sysctl.path("net.ipv4.neigh.eth0/100.base_reachable_time_ms"),
                       "/proc/sys/net/ipv4/neigh/eth0.100/base_reachable_time_ms")
        let name = Sysctl.name("net", "ipv6", "neigh", "bond0.20.3", "base_reachable_time_ms")
        XCTAssertEqual(name, "net.ipv6.neigh.bond0/20/3.base_reachable_time_ms")
        XCTAssertEqual(Sysctl.path(name), "/proc/sys/net/ipv6/neigh/bond0.20.3/base_reachable_time_ms")
        XCTAssertEqual(Sysctl.path(Sysctl.name("net", "ipv4", "conf", "p1", "rp_filter")),
                       "/proc/sys/net/ipv4/conf/p1/rp_filter")
    }
}
