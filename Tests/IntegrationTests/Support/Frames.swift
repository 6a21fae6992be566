/// Hand-built Ethernet frames for running the fast path with
/// BPF_PROG_TEST_RUN. Only what the tests need: IPv4/IPv6 + UDP.
enum Frames {
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var sum: UInt32 = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let high = UInt32(bytes[index])
            let low = index + 1 < bytes.endIndex ? UInt32(bytes[index + 1]) : 0
            sum += high << 8 | low
            index += 2
        }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }

    static func ethernet(dst: [UInt8], src: [UInt8] = [2, 0, 0, 0, 0, 0xaa], type: Int) -> [UInt8] {
        dst + src + be16(type)
    }

    /// IPv4 + UDP, 8 bytes of payload, valid checksum unless told otherwise.
    static func ipv4(dst mac: [UInt8], from source: [UInt8] = [10, 1, 0, 2], to destination: [UInt8] = [10, 2, 0, 2],
                     ttl: UInt8 = 64, options: [UInt8] = [], breakChecksum: Bool = false, padding: Int = 0) -> [UInt8] {
        let payload: [UInt8] = be16(4000) + be16(9999) + be16(16) + be16(0) + Array(repeating: 0x61, count: 8)
        let headerLength = 20 + options.count
        var header: [UInt8] = [UInt8(0x40 | headerLength / 4), 0] + be16(headerLength + payload.count)
            + [0, 1, 0x40, 0, ttl, 17, 0, 0] + source + destination + options
        let sum = checksum(header[...])
        header[10] = UInt8(sum >> 8)
        header[11] = UInt8(sum & 0xff) ^ (breakChecksum ? 0x55 : 0)
        return ethernet(dst: mac, type: 0x0800) + header + payload + Array(repeating: 0, count: padding)
    }

    /// IPv6 + UDP (checksum left zero: the fast path does not look at it).
    static func ipv6(dst mac: [UInt8], from source: [UInt8], to destination: [UInt8],
                     hopLimit: UInt8 = 64, nextHeader: UInt8 = 17) -> [UInt8] {
        let payload: [UInt8] = be16(4000) + be16(9999) + be16(16) + be16(0) + Array(repeating: 0x61, count: 8)
        let header: [UInt8] = [0x60, 0, 0, 0] + be16(payload.count) + [nextHeader, hopLimit] + source + destination
        return ethernet(dst: mac, type: 0x86dd) + header + payload
    }

    static func v6(_ words: [UInt16]) -> [UInt8] { words.flatMap { be16(Int($0)) } }
}
