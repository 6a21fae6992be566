import XCTest

/// Same bytes as the kernel through bonds: the differential corpus enters
/// the router by an active-backup bond and leaves by a balance-xor one.
/// Needs the bonding driver (the Debian 12 VM).
extension DifferentialTests {
    func testSameBytesAsTheKernelThroughBonds() throws {
        try Lab.requireBonding()
        try compare(rpFilter: 0) { lab in
            try lab.makeBond("p0", mode: "active-backup")
            try lab.makeBond("p1", mode: "balance-xor", hash: "layer3+4")
        }
    }
}
