import FibfastCore
import XCTest

/// The own-address table may hold an address too many (its packets go to
/// the kernel), never one too few (the fast path would forward a packet
/// the kernel drops as a martian).
final class SourceCheckTests: XCTestCase {
    final class Maps: SourceCheckMaps {
        var table: Set<UInt32> = []
        var filterWrites = 0
        var full = false
        func recordOwnAddress(_ key: UInt32) throws { table.insert(key) }
        func forgetOwnAddress(_ key: UInt32) throws { table.remove(key) }
        func writeOwnAddressFilter(_ words: [UInt64]) throws { filterWrites += 1 }
        func setFullSourceCheck() throws { full = true }
    }

    struct DumpFailed: Error {}

    func v4(_ last: UInt8, on ifindex: UInt32) -> InterfaceAddress {
        InterfaceAddress(ifindex: ifindex, family: .ipv4, bytes: [10, 0, 0, last], prefixLength: 24)
    }

    func key(_ address: InterfaceAddress) -> UInt32 {
        address.bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    func testADeletionThatCannotBeCheckedKeepsEveryAddress() {
        let maps = Maps()
        var dump: Result<[InterfaceAddress], Error> = .success([])
        let check = SourceCheck(maps: maps, addresses: { try dump.get() })
        let a = v4(1, on: 2), b = v4(2, on: 3)
        check.sync([a, b])
        XCTAssertEqual(maps.table, [key(a), key(b)])

        // The kernel removed b, but the dump that would say what is left fails.
        dump = .failure(DumpFailed())
        XCTAssertFalse(check.addressChanged(b, deleted: true), "an unsettled deletion is reported")
        XCTAssertEqual(maps.table, [key(a), key(b)], "failed closed: nothing leaves the table")
        XCTAssertEqual(check.addresses, [key(a), key(b)])

        // Once a dump works, exactly the addresses that are gone leave.
        dump = .success([a])
        XCTAssertTrue(check.addressChanged(b, deleted: true))
        XCTAssertEqual(maps.table, [key(a)])
        XCTAssertFalse(maps.full)
    }

    func testAnAddressOnTwoInterfacesStaysUntilBothAreGone() {
        let maps = Maps()
        let shared = v4(9, on: 2), twin = v4(9, on: 3)
        var dump = [shared, twin]
        let check = SourceCheck(maps: maps, addresses: { dump })
        check.sync(dump)
        dump = [twin]
        check.addressChanged(shared, deleted: true)
        XCTAssertEqual(maps.table, [key(twin)])
        dump = []
        check.addressChanged(twin, deleted: true)
        XCTAssertEqual(maps.table, [])
    }

    func testAddressesAddedGoStraightIn() {
        let maps = Maps()
        let check = SourceCheck(maps: maps, addresses: { throw DumpFailed() })
        check.addressChanged(v4(5, on: 2), deleted: false)
        XCTAssertEqual(maps.table, [key(v4(5, on: 2))])
        check.addressChanged(InterfaceAddress(ifindex: 2, family: .ipv6, bytes: [UInt8](repeating: 1, count: 16),
                                              prefixLength: 64), deleted: false)
        XCTAssertEqual(maps.table.count, 1, "IPv6 has no own-address check")
    }
}
