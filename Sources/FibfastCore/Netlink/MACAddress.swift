import Foundation

/// Link-layer addresses as `ip link` and `ip neigh` write them.
enum MACAddress {
    static func text(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
    }
}
