import CLibBPF
import Glibc

/// Requests to one generic netlink family, answered in full before the call
/// returns. fibfast asks only the kernel's "netdev" family (which XDP a
/// device supports), a couple of messages at a time, so a plain socket per
/// request is enough and libnl-genl would be a third C library for it. The
/// same exchange serves the one rtnetlink request libnl cannot make (a link
/// in another namespace, by its id).
struct GenericNetlink {
    /// A message's attributes by type; nested ones are parsed on demand.
    typealias Attributes = [UInt16: [UInt8]]

    struct Family: Sendable, Equatable {
        var id: UInt16
        /// Multicast groups by name, for subscribing to the family's events.
        var groups: [String: UInt32]
    }

    private static let controller: UInt16 = 0x10       // GENL_ID_CTRL
    private static let getFamily: UInt8 = 3            // CTRL_CMD_GETFAMILY
    private static let familyID: UInt16 = 1            // CTRL_ATTR_FAMILY_ID
    private static let familyName: UInt16 = 2          // CTRL_ATTR_FAMILY_NAME
    private static let multicastGroups: UInt16 = 7     // CTRL_ATTR_MCAST_GROUPS
    private static let groupName: UInt16 = 1           // CTRL_ATTR_MCAST_GRP_NAME
    private static let groupID: UInt16 = 2             // CTRL_ATTR_MCAST_GRP_ID

    /// The family's id and groups in this kernel; nil when the kernel does
    /// not have the family (it answers ENOENT).
    static func family(_ name: String) throws(FibfastError) -> Family? {
        let answers: [Attributes]
        do {
            answers = try request(family: controller, command: getFamily,
                                  attributes: [(familyName, Array(name.utf8) + [0])])
        } catch .netlink(_, let code) where code == -ENOENT {
            return nil
        }
        guard let answer = answers.first, let id = answer[familyID].flatMap({ Self.integer($0, as: UInt16.self) }) else {
            return nil
        }
        var groups: [String: UInt32] = [:]
        for group in parse(answer[multicastGroups] ?? []).values {
            let fields = parse(group)
            if let name = fields[groupName], let id = fields[groupID].flatMap({ Self.integer($0, as: UInt32.self) }) {
                groups[String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)] = id
            }
        }
        return Family(id: id, groups: groups)
    }

    /// Sends one request and collects every answer until the kernel's
    /// acknowledgement; a kernel error becomes `.netlink` with its -errno.
    static func request(family: UInt16, command: UInt8, attributes: [(UInt16, [UInt8])]) throws(FibfastError) -> [Attributes] {
        var body: [UInt8] = [command, 1, 0, 0]          // genlmsghdr: cmd, version, reserved
        for (type, payload) in attributes { body += attribute(type, payload) }
        return try exchange(protocol: NETLINK_GENERIC, type: family, body: body).compactMap {
            $0.count >= 4 ? parse(Array($0[4...])) : nil
        }
    }

    /// One request on a fresh netlink socket of `protocol`; the payloads of
    /// the answers, headers included, up to the acknowledgement.
    static func exchange(protocol: Int32, type messageType: UInt16, body: [UInt8]) throws(FibfastError) -> [[UInt8]] {
        let fd = Sockets.netlink(`protocol`)
        guard fd >= 0 else { throw .netlink(operation: "netlink socket", code: -errno) }
        defer { close(fd) }
        // A kernel that never answers must not hang the agent.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var message = [UInt8]()
        append(&message, UInt32(16 + body.count))
        append(&message, messageType)
        append(&message, UInt16(NLM_F_REQUEST | NLM_F_ACK))
        append(&message, UInt32(1))                     // sequence
        append(&message, UInt32(0))                     // port id: the kernel's
        message += body
        guard send(fd, message, message.count, 0) == message.count else {
            throw .netlink(operation: "netlink request", code: -errno)
        }

        var answers: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .netlink(operation: "netlink answer", code: -(count < 0 ? errno : EIO)) }
            var offset = 0
            while offset + 16 <= count {
                let length = Int(integer(Array(buffer[offset..<offset + 4]), as: UInt32.self) ?? 0)
                let type = integer(Array(buffer[offset + 4..<offset + 6]), as: UInt16.self) ?? 0
                guard length >= 16, offset + length <= count else { break }
                let payload = Array(buffer[offset + 16..<offset + length])
                switch Int32(type) {
                case NLMSG_ERROR:
                    let code = payload.count >= 4 ? Int32(bitPattern: integer(Array(payload[0..<4]), as: UInt32.self) ?? 0) : -EIO
                    if code != 0 { throw .netlink(operation: "netlink request", code: code) }
                    return answers
                case NLMSG_DONE:
                    return answers
                default:
                    answers.append(payload)
                }
                offset += (length + 3) & ~3
            }
        }
    }

    /// Attributes of a message (or of a nested attribute) by type.
    static func parse(_ bytes: [UInt8]) -> Attributes {
        var attributes: Attributes = [:]
        var offset = 0
        while offset + 4 <= bytes.count {
            let length = Int(integer(Array(bytes[offset..<offset + 2]), as: UInt16.self) ?? 0)
            let type = (integer(Array(bytes[offset + 2..<offset + 4]), as: UInt16.self) ?? 0) & 0x3fff
            guard length >= 4, offset + length <= bytes.count else { break }
            attributes[type] = Array(bytes[offset + 4..<offset + length])
            offset += (length + 3) & ~3
        }
        return attributes
    }

    /// A fixed-size integer in host order, nil when the bytes are too few.
    static func integer<T: FixedWidthInteger>(_ bytes: [UInt8], as: T.Type) -> T? {
        guard bytes.count >= MemoryLayout<T>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    static func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var bytes = [UInt8]()
        append(&bytes, UInt16(4 + payload.count))
        append(&bytes, type)
        bytes += payload
        bytes += [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
        return bytes
    }

    static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value) { bytes += $0 }
    }
}
