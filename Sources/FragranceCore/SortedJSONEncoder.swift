import Foundation

/// Encodable values as compact JSON with sorted keys: byte for byte what Foundation's
/// `JSONEncoder` writes with `[.sortedKeys, .withoutEscapingSlashes]` and non-finite floats as
/// the strings "inf", "-inf" and "nan" (a test compares the two on random trees and on replies).
///
/// Why not JSONEncoder: it was 13% of an HTTP search's CPU (a reply of ten records took ~0.7 ms),
/// most of it in generic boxing and type checks for every value. This builds a small tree of
/// containers (keys must be sorted, so an object is written only when it is complete) and then
/// writes bytes once.
public enum SortedJSONEncoder {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = try Node.of(value)
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        root.write(into: &out)
        return out
    }
}

extension SortedJSONEncoder {
    /// An object whose fields the caller writes directly, skipping Codable's per-value machinery
    /// (a record's attributes were most of a search reply's encoding time). Only this encoder
    /// has one: `rawObject` is nil for any other, and the caller then encodes the usual way.
    public struct RawObject {
        let object: ObjectNode
        public func add(_ key: String, string: String) { object.set(key, .string(string)) }
        public func add(_ key: String, int: Int64) { object.set(key, .text(String(int))) }
        public func add(_ key: String, double: Double) { object.set(key, Node.number(double)) }
        public func add(_ key: String, bool: Bool) { object.set(key, .text(bool ? "true" : "false")) }
        public func add(_ key: String, strings: [String]) { object.set(key, .strings(strings)) }
        public func add(_ key: String, floats: [Float]) { object.set(key, .floats(floats)) }
        /// An object of string lists (keys sorted as always).
        public func add(_ key: String, lists: [String: [String]]) { object.set(key, .lists(lists)) }
    }

    public static func rawObject(_ encoder: Encoder) -> RawObject? {
        guard let e = encoder as? TreeEncoder else { return nil }
        return RawObject(object: e.object())
    }
}

/// A coding key that is any string: for objects whose keys are data (a record's field names).
public struct StringCodingKey: CodingKey, Sendable {
    public var stringValue: String
    public init(_ s: String) { stringValue = s }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public var intValue: Int? { nil }
    public init?(intValue: Int) { nil }
}

// MARK: - The tree

/// One JSON value. `text` holds what is written as is (numbers, true, false, null).
enum Node {
    case text(String)
    case string(String)
    case object(ObjectNode)
    case array(ArrayNode)
    /// A `superEncoder()`'s value, known only once its user has finished with it.
    case deferred(TreeEncoder)
    /// Written directly (RawObject): a string list, a float list, an object of string lists.
    case strings([String])
    case floats([Float])
    case lists([String: [String]])

    static var null: Node { .text("null") }

    static func of<T: Encodable>(_ value: T) throws -> Node {
        // The scalars first, by their type (a pointer compare; `as?` is a runtime cast that
        // fails for every struct): most values in a reply are strings and numbers.
        if T.self == String.self { return .string(unsafeBitCast(value, to: String.self)) }
        if T.self == Double.self { return number(unsafeBitCast(value, to: Double.self)) }
        if T.self == Int.self { return .text(String(unsafeBitCast(value, to: Int.self))) }
        if T.self == Float.self { return number(unsafeBitCast(value, to: Float.self)) }
        if T.self == Bool.self { return .text(unsafeBitCast(value, to: Bool.self) ? "true" : "false") }
        switch value {
        case let s as String: return .string(s)
        case let x as Double: return number(x)
        case let x as Float: return number(x)
        case let i as Int: return .text(String(i))
        case let b as Bool: return .text(b ? "true" : "false")
        case let i as Int64: return .text(String(i))
        case let i as UInt64: return .text(String(i))
        case let i as Int32: return .text(String(i))
        case let i as UInt32: return .text(String(i))
        // What JSONEncoder's default strategies do with these (their own encode(to:) differs).
        case let d as Data: return .string(d.base64EncodedString())
        case let u as URL: return .string(u.absoluteString)
        case let d as Date: return number(d.timeIntervalSinceReferenceDate)
        default:
            let e = TreeEncoder()
            try value.encode(to: e)
            // A value that encoded nothing: JSONEncoder writes an empty object.
            return e.node ?? .object(ObjectNode())
        }
    }

    /// Shortest round-trip digits (Swift's description), without a trailing ".0", as JSONEncoder.
    static func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ x: F) -> Node {
        if x.isNaN { return .string("nan") }
        if x.isInfinite { return .string(x < 0 ? "-inf" : "inf") }
        var s = x.description
        if s.hasSuffix(".0") { s.removeLast(2) }
        return .text(s)
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .text(let t): out.append(contentsOf: t.utf8)
        case .string(let s): Self.writeString(s, into: &out)
        case .object(let o): o.write(into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, item) in a.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .deferred(let e): (e.node ?? .object(ObjectNode())).write(into: &out)
        case .strings(let a):
            out.append(UInt8(ascii: "["))
            for (i, s) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(s, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .floats(let a):
            out.append(UInt8(ascii: "["))
            for (i, x) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.number(x).write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .lists(let d):
            out.append(UInt8(ascii: "{"))
            for (i, key) in d.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                Node.strings(d[key]!).write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// `"` and `\` escaped, \b \t \n \f \r by name, other control bytes as \u00xx; `/` and
    /// everything from 0x7f up as they are.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for u in s.utf8 {
            switch u {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(u)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(u)
            case 0x20...: out.append(u)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            default:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(u >> 4)], hex[Int(u & 15)]])
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

final class ObjectNode {
    var keys: [String] = []
    var values: [Node] = []

    func set(_ key: String, _ value: Node) {
        keys.append(key)
        values.append(value)
    }

    /// Keys in String order; a key set twice keeps its last value (JSONEncoder's dictionary does).
    func write(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        let order = keys.indices.sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
        var first = true
        for (n, i) in order.enumerated() {
            if n + 1 < order.count, keys[order[n + 1]] == keys[i] { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            Node.writeString(keys[i], into: &out)
            out.append(UInt8(ascii: ":"))
            values[i].write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

final class ArrayNode {
    var items: [Node] = []
}

// MARK: - The Encoder

/// One value's encoder: its node is set by the first container asked for (asking again for the
/// same kind continues it, as with JSONEncoder).
final class TreeEncoder: Encoder {
    var node: Node?
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func object() -> ObjectNode {
        if case .object(let o)? = node { return o }
        let o = ObjectNode()
        node = .object(o)
        return o
    }

    func array() -> ArrayNode {
        if case .array(let a)? = node { return a }
        let a = ArrayNode()
        node = .array(a)
        return a
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(object: object()))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer { UnkeyedContainer(array: array()) }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleValueContainer(encoder: self) }
}

struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: ObjectNode
    var codingPath: [CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .text(value ? "true" : "false")) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, Node.number(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, Node.number(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .text(String(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { object.set(key.stringValue, try Node.of(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let o = ObjectNode()
        object.set(key.stringValue, .object(o))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: o))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let a = ArrayNode()
        object.set(key.stringValue, .array(a))
        return UnkeyedContainer(array: a)
    }

    mutating func superEncoder() -> Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> Encoder { superEncoder(named: key.stringValue) }
    private func superEncoder(named name: String) -> Encoder {
        let e = TreeEncoder()
        object.set(name, .deferred(e))
        return e
    }
}

struct UnkeyedContainer: UnkeyedEncodingContainer {
    let array: ArrayNode
    var codingPath: [CodingKey] { [] }
    var count: Int { array.items.count }

    mutating func encodeNil() throws { array.items.append(.null) }
    mutating func encode(_ value: Bool) throws { array.items.append(.text(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { array.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws { array.items.append(Node.number(value)) }
    mutating func encode(_ value: Float) throws { array.items.append(Node.number(value)) }
    mutating func encode(_ value: Int) throws { array.items.append(.text(String(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws { array.items.append(try Node.of(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let o = ObjectNode()
        array.items.append(.object(o))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(object: o))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let a = ArrayNode()
        array.items.append(.array(a))
        return UnkeyedContainer(array: a)
    }

    mutating func superEncoder() -> Encoder {
        let e = TreeEncoder()
        array.items.append(.deferred(e))
        return e
    }
}

struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: TreeEncoder
    var codingPath: [CodingKey] { [] }

    mutating func encodeNil() throws { encoder.node = .null }
    mutating func encode(_ value: Bool) throws { encoder.node = .text(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { encoder.node = .string(value) }
    mutating func encode(_ value: Double) throws { encoder.node = Node.number(value) }
    mutating func encode(_ value: Float) throws { encoder.node = Node.number(value) }
    mutating func encode(_ value: Int) throws { encoder.node = .text(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.node = try Node.of(value) }
}
