import FragranceCore
import Foundation
import XCTest
import TestSupport

/// SortedJSONEncoder must write exactly what Foundation's JSONEncoder writes with the options
/// replies use: clients, tests and the OpenAPI check saw JSONEncoder's bytes until it replaced it.
final class SortedJSONEncoderTests: XCTestCase {
    private func foundation<T: Encodable>(_ value: T) throws -> String { try foundationReplyJSON(value) }

    private func ours<T: Encodable>(_ value: T) throws -> String { String(decoding: try SortedJSONEncoder.encode(value), as: UTF8.self) }

    /// Any shape a Codable type can produce: synthesised keyed containers, single values,
    /// arrays, dictionaries, optionals, nested and super encoders.
    indirect enum Tree: Encodable {
        case string(String), double(Double), float(Float), int(Int), int64(Int64), uint32(UInt32), bool(Bool), null
        case optional(Tree?), array([Tree]), dictionary([String: Tree]), keyed([(String, Tree)]), nested(String, [Tree]), superValue(Tree)
        case strings([String]), floats([Float]), record(Sample)

        typealias Key = StringCodingKey

        func encode(to encoder: Encoder) throws {
            switch self {
            case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
            case .double(let x): var c = encoder.singleValueContainer(); try c.encode(x)
            case .float(let x): var c = encoder.singleValueContainer(); try c.encode(x)
            case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
            case .int64(let i): var c = encoder.singleValueContainer(); try c.encode(i)
            case .uint32(let i): var c = encoder.singleValueContainer(); try c.encode(i)
            case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
            case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
            case .optional(let t): var c = encoder.singleValueContainer(); try c.encode(t)
            case .array(let a): try a.encode(to: encoder)
            case .dictionary(let d): try d.encode(to: encoder)
            case .strings(let s): try s.encode(to: encoder)
            case .floats(let f): try f.encode(to: encoder)
            case .record(let r): try r.encode(to: encoder)
            case .keyed(let pairs):
                var c = encoder.container(keyedBy: Key.self)
                for (k, v) in pairs {
                    switch v {
                    case .string(let s): try c.encode(s, forKey: Key(k))
                    case .double(let x): try c.encode(x, forKey: Key(k))
                    case .float(let x): try c.encode(x, forKey: Key(k))
                    case .int(let i): try c.encode(i, forKey: Key(k))
                    case .bool(let b): try c.encode(b, forKey: Key(k))
                    case .null: try c.encodeNil(forKey: Key(k))
                    case .optional(let t): try c.encodeIfPresent(t, forKey: Key(k))
                    default: try c.encode(v, forKey: Key(k))
                    }
                }
            case .nested(let key, let items):
                var c = encoder.container(keyedBy: Key.self)
                var u = c.nestedUnkeyedContainer(forKey: Key(key))
                for i in items { try u.encode(i) }
                var inner = c.nestedContainer(keyedBy: Key.self, forKey: Key(key + "_o"))
                try inner.encode(items.count, forKey: Key("n"))
                var u2 = u.nestedContainer(keyedBy: Key.self)
                try u2.encodeNil(forKey: Key("z"))
            case .superValue(let t):
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(1, forKey: Key("own"))
                try t.encode(to: c.superEncoder())
            }
        }
    }

    struct Sample: Encodable {
        var name: String
        var rating: Double?
        var year: Int?
        var tags: [String]
        var tiers: [String: [String]]
        var when: Date
        var blob: Data
        var link: URL
        enum CodingKeys: String, CodingKey { case name, rating, year, tags, tiers, when = "when_at", blob, link }
    }

    private struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    private static let pieces = ["a", "B", "z", "a10", "a2", "_", "é", "향수", "🌸", "\"", "\\", "/", "\n", "\t", "\u{08}", "\u{0C}", "\r",
                                 "\u{00}", "\u{1F}", "\u{7F}", "\u{2028}", " ", "rose", "Rose", "1", "-", "a_b", "aB"]

    private func string(_ r: inout Random) -> String { (0..<r.below(4)).map { _ in Self.pieces[r.below(Self.pieces.count)] }.joined() }

    private func double(_ r: inout Random) -> Double {
        switch r.below(6) {
        case 0: return Double(bitPattern: r.next())   // any bits: huge, tiny, NaN, infinities
        case 1: return Double(r.below(2_000_000)) - 1e6
        case 2: return Double(r.below(100_000)) / 1000
        case 3: return [0.0, -0.0, 1e15, 1e16, 2.5e15, 9007199254740992, 1e-7, 5e-324, .infinity, -.infinity, .nan, 0.1][r.below(12)]
        default: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: r.next())))
        }
    }

    private func tree(_ r: inout Random, depth: Int) -> Tree {
        let leaf = depth > 3
        switch r.below(leaf ? 8 : 17) {
        case 0: return .string(string(&r))
        case 1: return .double(double(&r))
        case 2: return .float(Float(bitPattern: UInt32(truncatingIfNeeded: r.next())))
        case 3: return .int(Int(bitPattern: UInt(r.next())) >> r.below(64))
        case 4: return .int64(Int64(bitPattern: r.next()))
        case 5: return .bool(r.below(2) == 0)
        case 6: return .null
        case 7: return .uint32(UInt32(truncatingIfNeeded: r.next()))
        case 8: return .optional(r.below(2) == 0 ? nil : tree(&r, depth: depth + 1))
        case 9: return .array((0..<r.below(4)).map { _ in tree(&r, depth: depth + 1) })
        case 10: return .dictionary(Dictionary((0..<r.below(5)).map { _ in (string(&r), tree(&r, depth: depth + 1)) }, uniquingKeysWith: { a, _ in a }))
        case 11, 12: return .keyed((0..<r.below(6)).map { _ in (string(&r), tree(&r, depth: depth + 1)) })   // repeated keys too
        case 13: return .nested(string(&r), (0..<r.below(3)).map { _ in tree(&r, depth: depth + 1) })
        case 14: return .superValue(tree(&r, depth: depth + 1))
        case 15: return .strings((0..<r.below(4)).map { _ in string(&r) })
        default:
            if r.below(2) == 0 { return .floats((0..<r.below(5)).map { _ in Float(double(&r)) }) }
            return .record(Sample(name: string(&r), rating: r.below(2) == 0 ? nil : double(&r), year: r.below(2) == 0 ? nil : r.below(3000),
                                  tags: (0..<r.below(3)).map { _ in string(&r) }, tiers: ["top": [string(&r)], "base": []],
                                  when: Date(timeIntervalSinceReferenceDate: double(&r).isFinite ? Double(r.below(1 << 30)) / 7 : 0),
                                  blob: Data((0..<r.below(9)).map { _ in UInt8(r.below(256)) }), link: URL(string: "https://example.org/p?q=\(r.below(99))")!))
        }
    }

    func testRandomTreesEncodeAsFoundationDoes() throws {
        var r = Random(state: 2026)
        for i in 0..<4000 {
            let t = tree(&r, depth: 0)
            let expected = try foundation(t), got = try ours(t)
            XCTAssertEqual(got, expected, "tree \(i): \(t)")
            if got != expected { return }
        }
    }

    func testStringsAndNumbersByHand() throws {
        var all = ""
        for b in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(b))) }
        all += "\"\\/\u{7F}é😀\u{2028}"
        XCTAssertEqual(try ours([all]), #"["\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\/"# + "\u{7F}é😀\u{2028}\"]")
        XCTAssertEqual(try ours([1.0, 0.1, 1e20, 1e-7, -0.0, 2.5e15, .infinity, -.infinity, .nan]), #"[1,0.1,1e+20,1e-07,-0,2500000000000000,"inf","-inf","nan"]"#)
        XCTAssertEqual(try ours(["b": 1, "a10": 2, "a2": 3, "B": 4]), #"{"B":4,"a10":2,"a2":3,"b":1}"#)
        XCTAssertEqual(try ours([Float(0.99999994), 3.4e38]), "[0.99999994,3.4e+38]")
    }
}
