// What the out-of-process tools (fuzz, crash-loop) share: a seeded generator, a blocking
// loopback socket with deadlines that reads line replies and HTTP/1.1 replies, and a
// `fragrancedb serve` child process on free loopback ports. Nothing here is product code.
import Foundation

@_exported import TestSupport

/// The tools' generator is the tests' (Tests/Support): the same seed gives the same run.
public typealias Rng = SplitMix
extension SplitMix {
    public init(s: UInt64) { self.init(s) }
}

/// A blocking TCP connection to 127.0.0.1, every wait bounded by a deadline.
public final class Conn {
    public let fd: Int32
    public var pending: [UInt8] = []

    public init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { close(fd); return nil }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// False when the peer closed or the deadline passed.
    public func send(_ bytes: [UInt8], until deadline: Date) -> Bool {
        var off = 0
        while off < bytes.count {
            guard wait(POLLOUT, until: deadline) else { return false }
            let n = bytes[off...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0, errno == EAGAIN { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    private func wait(_ events: Int32, until deadline: Date) -> Bool {
        let ms = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        return poll(&p, 1, ms) > 0
    }

    public enum Read: Equatable { case data, closed, timeout }

    public func fill(until deadline: Date) -> Read {
        guard wait(POLLIN, until: deadline) else { return .timeout }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { return .closed }
        pending += buf[..<n]
        return .data
    }

    public func line(until deadline: Date) -> (String?, Read) {
        while true {
            if let i = pending.firstIndex(of: 0x0A) {
                var l = Array(pending[..<i])
                pending.removeFirst(i + 1)
                if l.last == 0x0D { l.removeLast() }
                return (String(decoding: l, as: UTF8.self), .data)
            }
            let r = fill(until: deadline)
            if r != .data { return (nil, r) }
        }
    }

    public func bytes(_ n: Int, until deadline: Date) -> ([UInt8]?, Read) {
        while pending.count < n {
            let r = fill(until: deadline)
            if r != .data { return (nil, r) }
        }
        defer { pending.removeFirst(n) }
        return (Array(pending[..<n]), .data)
    }

    /// One line-protocol request and its whole reply (status line, then a `*n` block's lines);
    /// nil when the connection failed or the deadline passed.
    public func call(_ line: String, seconds: Double = 30) -> [String]? {
        let deadline = Date().addingTimeInterval(seconds)
        guard send(Array((line + "\r\n").utf8), until: deadline), let status = self.line(until: deadline).0 else { return nil }
        var out = [status]
        if status.hasPrefix("*"), let n = Int(status.dropFirst()) {
            for _ in 0..<n {
                guard let l = self.line(until: deadline).0 else { return nil }
                out.append(l)
            }
        }
        return out
    }

    public struct HTTPReply { public var status: Int; public var body: [UInt8]; public var closes: Bool }

    /// Reads one HTTP/1.1 reply (Content-Length or chunked).
    public func httpReply(until deadline: Date) -> (HTTPReply?, Read) {
        let (statusLine, r0) = line(until: deadline)
        guard let statusLine else { return (nil, r0) }
        let parts = statusLine.split(separator: " ")
        guard statusLine.hasPrefix("HTTP/1.1"), parts.count >= 2, let status = Int(parts[1]) else { return (nil, .closed) }
        var length = 0, chunked = false, closes = false
        while true {
            let (l, r) = line(until: deadline)
            guard let l else { return (nil, r) }
            if l.isEmpty { break }
            let lower = l.lowercased()
            if lower.hasPrefix("content-length:") { length = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0 }
            if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
            if lower.hasPrefix("connection:") && lower.contains("close") { closes = true }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                let (size, r) = line(until: deadline)
                guard let size, let n = Int(size, radix: 16) else { return (nil, r == .data ? .closed : r) }
                let (chunk, rr) = bytes(n + 2, until: deadline)
                guard let chunk else { return (nil, rr) }
                body += chunk.dropLast(2)
                if n == 0 { break }
            }
        } else if length > 0 {
            let (b, r) = bytes(length, until: deadline)
            guard let b else { return (nil, r) }
            body = b
        }
        return (HTTPReply(status: status, body: body, closes: closes), .data)
    }

    /// One HTTP request with a JSON body (or none) and its reply.
    public func http(_ method: String, _ path: String, json: String? = nil, seconds: Double = 30) -> HTTPReply? {
        let deadline = Date().addingTimeInterval(seconds)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        let body = json.map { Array($0.utf8) } ?? []
        if json != nil { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        guard send(Array((head + "\r\n").utf8) + body, until: deadline) else { return nil }
        return httpReply(until: deadline).0
    }
}

/// Resident memory of a process, in bytes (0 when it is gone).
public func rss(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
public func cpuSeconds(_ pid: Int32) -> Double {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = s.lastIndex(of: ")") else { return 0 }
    // Fields after the command name: state is field 3, utime 14 and stime 15 (1-based).
    let f = s[s.index(after: close)...].split(separator: " ")
    guard f.count > 12, let user = Double(f[11]), let system = Double(f[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// `fragrancedb serve` on free loopback ports over a data directory, without the catalogue.
public final class ServerProcess {
    public let tcpPort = freePort(), httpPort = freePort()
    public let process = Process()

    public init(binary: String, data: URL, configDir: URL, modelDir: String, environment extra: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data", data.path, "--port", String(tcpPort), "--http-port", String(httpPort),
                             "--model-dir", modelDir, "--config-dir", configDir.path]
        var env = ProcessInfo.processInfo.environment
        env["FRAGRANCEDB_CATALOGUE_LOAD"] = "false"
        env["FRAGRANCEDB_LOG_LEVEL"] = "critical"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// A connection once the TCP port answers, within `seconds`.
    public func connect(within seconds: Double) -> Conn? {
        let until = Date().addingTimeInterval(seconds)
        repeat {
            if let c = Conn(port: tcpPort) { return c }
            if !process.isRunning { return nil }
            usleep(50_000)
        } while Date() < until
        return nil
    }

    public func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// Prints at once even when stdout is a pipe (print's buffer would hold a long run's progress).
public func say(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}
