import Foundation

/// Compact JSON text for the dictionaries and arrays replies are built from, sorted keys.
/// Foundation's JSONSerialization bridges every dictionary to NSDictionary on Linux and was
/// the largest cost of an HTTP search reply (more than the search); this writes directly.
/// Foundation's parser gives JSON `true`/`false` as NSNumber; only the type code tells them
/// from 1 and 0.
public func isJSONBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

public enum JSONWriter {
    public static func text(_ value: Any) -> String {
        var out = ""
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    public static func write(_ value: Any, into out: inout String) {
        // Foundation's parsed numbers (NSNumber) first: cast to Int, a parsed `true` would be 1.
        if type(of: value) is NSNumber.Type, let n = value as? NSNumber {
            switch String(cString: n.objCType) {
            case "c": out.append(n.boolValue ? "true" : "false")
            case "d", "f": number(n.doubleValue, into: &out)
            default: out.append(n.stringValue)
            }
            return
        }
        switch value {
        case let s as String: string(s, into: &out)
        case let d as [String: Any]:
            out.append("{")
            var first = true
            for key in d.keys.sorted() {
                if !first { out.append(",") }
                first = false
                string(key, into: &out)
                out.append(":")
                write(d[key]!, into: &out)
            }
            out.append("}")
        case let a as [String]:
            out.append("[")
            for (i, s) in a.enumerated() {
                if i > 0 { out.append(",") }
                string(s, into: &out)
            }
            out.append("]")
        case let a as [Any]:
            out.append("[")
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(",") }
                write(v, into: &out)
            }
            out.append("]")
        case let i as Int: out.append(String(i))
        case let i as Int64: out.append(String(i))
        case let i as Int32: out.append(String(i))
        case let i as UInt32: out.append(String(i))
        case let x as Double: number(x, into: &out)
        case let x as Float: number(Double(x), into: &out)
        case let b as Bool: out.append(b ? "true" : "false")
        case is NSNull: out.append("null")
        case let o as Optional<Any>:
            if case .some(let v) = o { write(v, into: &out) } else { out.append("null") }
        }
    }

    public static func number(_ x: Double, into out: inout String) {
        guard x.isFinite else { out.append("null"); return }
        if x == x.rounded(), abs(x) < 1e15 { out.append(String(Int64(x))); return }
        out.append(x.description)
    }

    /// A JSON string literal.
    public static func quoted(_ s: String) -> String {
        var out = ""
        string(s, into: &out)
        return out
    }

    public static func string(_ s: String, into out: inout String) {
        out.append("\"")
        var plain = true
        for u in s.utf8 where u < 0x20 || u == 0x22 || u == 0x5C { plain = false; break }
        if plain {
            out.append(s)
        } else {
            for u in s.unicodeScalars {
                switch u {
                case "\"": out.append("\\\"")
                case "\\": out.append("\\\\")
                case "\n": out.append("\\n")
                case "\r": out.append("\\r")
                case "\t": out.append("\\t")
                default:
                    if u.value < 0x20 { out.append(String(format: "\\u%04x", u.value)) } else { out.unicodeScalars.append(u) }
                }
            }
        }
        out.append("\"")
    }
}
