import CFastPath
import CLibBPF
@testable import FibfastCore
import XCTest

/// The index arithmetic of fastpath_abi.h, which the program and the agent
/// both call: every (slot, verdict) has its own counter inside the array.
final class ABITests: XCTestCase {
    func testCounterRowsTileTheArray() {
        let verdicts = UInt32(FF_VERDICT_COUNT.rawValue)
        XCTAssertEqual(ff_counter_index(0, 0), 0)
        XCTAssertEqual(ff_counter_index(1, 0), ff_counter_index(0, verdicts - 1) + 1)
        XCTAssertEqual(ff_counter_index(UInt32(FF_SLOT_UNKNOWN), verdicts - 1), UInt32(FF_MAX_PORTS) * verdicts - 1)
        let kinds = UInt32(FF_XDP_ERR_COUNT.rawValue)
        XCTAssertEqual(ff_xdp_error_index(1, 0), ff_xdp_error_index(0, kinds - 1) + 1)
        XCTAssertEqual(ff_xdp_error_index(UInt32(FF_MAX_PORTS) - 1, kinds - 1), UInt32(FF_MAX_PORTS) * kinds - 1)
    }

    func testEgressPrioritiesKeepTheirOwnBits() {
        var word = UInt32(FF_VLAN_EGRESS_LISTED)
        for priority in UInt32(0)..<8 { word = ff_vlan_egress_set_pcp(word, priority, 7 - priority) }
        for priority in UInt32(0)..<8 { XCTAssertEqual(ff_vlan_egress_pcp(word, priority), 7 - priority) }
        XCTAssertNotEqual(word & UInt32(FF_VLAN_EGRESS_LISTED), 0, "the listed bit survives")
        word = ff_vlan_egress_set_pcp(word, 3, 1)
        XCTAssertEqual(ff_vlan_egress_pcp(word, 3), 1)
        XCTAssertEqual(ff_vlan_egress_pcp(word, 2), 5, "a neighbour's PCP is untouched")
        XCTAssertEqual(ff_vlan_egress_pcp(word, 4), 3)
    }
}

/// Every hook the agent knows is a program of the embedded object, in the
/// order of enum ff_fib_cache_hook, and every hook program is known.
final class FibCacheHookTests: XCTestCase {
    func testEveryHookIsAProgramOfTheEmbeddedObject() throws {
        XCTAssertEqual(FibCacheHook.allCases.count, Int(FF_HOOK_COUNT.rawValue))
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let object = try XCTUnwrap(bpf_object__open_mem(fastpath_object_data(), Int(fastpath_object_size()), &options))
        defer { bpf_object__close(object) }
        var names: Set<String> = []
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            let name = String(cString: bpf_program__name(current))
            if name.hasPrefix("ffc_") {
                names.insert(name)
                XCTAssertFalse(bpf_program__autoload(current), "\(name) is loaded by the agent, not with the fast path")
            }
            program = bpf_object__next_program(object, current)
        }
        XCTAssertEqual(names, Set(FibCacheHook.allCases.map(\.program)))
    }

    /// The groups hold every hook once, so that a fallback load tries each.
    func testGroupsCoverEveryHookOnce() {
        XCTAssertEqual(FibCacheHook.groups.flatMap { $0 }.sorted { $0.rawValue < $1.rawValue }, FibCacheHook.allCases)
    }

    /// Ports stay in the cache's key under a port rule of either family,
    /// or a multipath hash over ports (policy 1 or 3), or a policy unread.
    func testPortsMatterOnlyWhereARuleOrTheMultipathHashReadsThem() {
        let plain = Rule(family: .ipv4, priority: 0, table: 255, action: 1)
        var byPort = Rule(family: .ipv6, priority: 100, table: 100, action: 1)
        byPort.usesPorts = true
        XCTAssertFalse(FibCache.portsMatter(rules: [plain], hashPolicies: ["0", "0"]))
        XCTAssertFalse(FibCache.portsMatter(rules: [plain], hashPolicies: ["2", "2"]))
        XCTAssertTrue(FibCache.portsMatter(rules: [plain, byPort], hashPolicies: ["0", "0"]))
        XCTAssertTrue(FibCache.portsMatter(rules: [plain], hashPolicies: ["1", "0"]))
        XCTAssertTrue(FibCache.portsMatter(rules: [plain], hashPolicies: ["0", "3"]))
        XCTAssertTrue(FibCache.portsMatter(rules: [plain], hashPolicies: ["0", nil]))
    }

    /// `--fib-cache auto`: on with the neighbour tracepoints and either hook
    /// set for the FIB; off with neither, or without the neighbour ones.
    func testSynchronousNeedsTheNeighboursAndOneWholeSetForTheFIB() {
        let neighbours = Set(FibCacheHook.neighbours)
        XCTAssertTrue(FibCacheHook.synchronous(neighbours.union(FibCacheHook.functions)), "6.1: fexit")
        XCTAssertTrue(FibCacheHook.synchronous(neighbours.union(FibCacheHook.netlink)), "6.18: the netlink pair")
        XCTAssertFalse(FibCacheHook.synchronous(neighbours), "neither")
        XCTAssertFalse(FibCacheHook.synchronous(neighbours.union([.netlinkNotify])), "a notification alone may precede a deletion")
        XCTAssertFalse(FibCacheHook.synchronous(neighbours.union(FibCacheHook.functions.dropLast())), "one FIB function missing")
        XCTAssertFalse(FibCacheHook.synchronous(Set(FibCacheHook.allCases).subtracting([.neighbourTimer])), "a neighbour hook missing")
    }
}
