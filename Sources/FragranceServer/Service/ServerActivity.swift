import FragranceProtocol
import Foundation
import Synchronization

/// The server's version, as `--version`, INFO, HELLO and `GET /` report it.
public enum FragranceVersion {
    public static let current = "0.19.0"
}

/// What the server has been doing, for INFO's stats and clients sections, SLOWLOG and CLIENT
/// LIST (Redis's names): calls, errors and time per command from both protocols, the commands
/// over the slow threshold, and the open line-protocol connections. Prometheus keeps the
/// histograms (`/metrics`); this keeps what a person at a prompt asks for.
public final class ServerActivity: Sendable {
    public struct CommandStats: Sendable, Equatable {
        public var calls = 0, errors = 0, microseconds: UInt64 = 0
    }

    public struct SlowEntry: Sendable {
        public var id: Int
        /// Unix time the command started.
        public var startedAt: Double
        public var microseconds: UInt64
        public var command: String
        /// The request's words, at most `maxArguments` of at most `maxArgumentLength` characters.
        public var arguments: [String]
        public var client: String
        public var surface: String
    }

    public struct Client: Sendable {
        public var id: Int
        public var address: String
        public var connectedAt: Double
        public var lastActive: Double
        public var lastCommand: String?
        public var role: String?
        public var commands: Int
    }

    public let startedAt = Date()
    /// Commands slower than this go to the slow log (0: every command; nil: none).
    public let slowThresholdMicroseconds: UInt64?
    public let slowLogLength: Int
    static let maxArguments = 16
    static let maxArgumentLength = 64

    private struct State {
        var commands: [String: CommandStats] = [:]
        var slow: [SlowEntry] = []
        var nextSlowId = 0
        var clients: [Int: Client] = [:]
        var nextClientId = 1
        var connectionsTotal = 0
    }
    private let state = Mutex(State())

    public init(slowThresholdMicroseconds: UInt64? = 10_000, slowLogLength: Int = 128) {
        self.slowThresholdMicroseconds = slowThresholdMicroseconds
        self.slowLogLength = max(1, slowLogLength)
    }

    public var uptimeSeconds: Double { Date().timeIntervalSince(startedAt) }

    /// One command or request that ran. `words`: the request's arguments as sent (cut here).
    func record(_ command: String, ok: Bool, microseconds: UInt64, words: @autoclosure () -> [String], client: String, surface: String, clientId: Int? = nil) {
        let slow = slowThresholdMicroseconds.map { microseconds >= $0 } ?? false
        let arguments = slow ? Self.truncate(words()) : []
        let now = Date().timeIntervalSince1970
        state.withLock { s in
            s.commands[command, default: CommandStats()].calls += 1
            if !ok { s.commands[command, default: CommandStats()].errors += 1 }
            s.commands[command, default: CommandStats()].microseconds += microseconds
            if slow {
                s.slow.insert(SlowEntry(id: s.nextSlowId, startedAt: now - Double(microseconds) / 1e6, microseconds: microseconds, command: command,
                                        arguments: arguments, client: client, surface: surface), at: 0)
                s.nextSlowId += 1
                if s.slow.count > slowLogLength { s.slow.removeLast() }
            }
            if let clientId, s.clients[clientId] != nil {
                s.clients[clientId]!.lastActive = now
                s.clients[clientId]!.lastCommand = command
                s.clients[clientId]!.commands += 1
            }
        }
    }

    static func truncate(_ words: [String]) -> [String] {
        var out = words.prefix(maxArguments).map { w in
            w.count > maxArgumentLength ? String(w.prefix(maxArgumentLength)) + "… (\(w.utf8.count) bytes)" : w
        }
        if words.count > maxArguments { out.append("… (\(words.count - maxArguments) more arguments)") }
        return out
    }

    var commandStats: [String: CommandStats] { state.withLock { $0.commands } }
    var connectionsTotal: Int { state.withLock { $0.connectionsTotal } }

    /// The newest first, at most `count`.
    func slowLog(_ count: Int) -> [SlowEntry] { state.withLock { Array($0.slow.prefix(max(0, count))) } }
    var slowLogCount: Int { state.withLock { $0.slow.count } }
    func resetSlowLog() { state.withLock { $0.slow.removeAll() } }

    /// A new line-protocol connection; its id for `update` and `disconnected`.
    func connected(address: String) -> Int {
        let now = Date().timeIntervalSince1970
        return state.withLock { s in
            let id = s.nextClientId
            s.nextClientId += 1
            s.connectionsTotal += 1
            s.clients[id] = Client(id: id, address: address, connectedAt: now, lastActive: now, lastCommand: nil, role: nil, commands: 0)
            return id
        }
    }

    func authenticated(_ id: Int, role: String?) { state.withLock { $0.clients[id]?.role = role } }
    func disconnected(_ id: Int) { _ = state.withLock { $0.clients.removeValue(forKey: id) } }
    var clients: [Client] { state.withLock { $0.clients.values.sorted { $0.id < $1.id } } }
}
