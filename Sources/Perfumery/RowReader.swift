import FragranceCore
import FragranceProtocol
import Foundation
import FragranceStore

/// One input row: its line number in the file (1-based; for CSV, the line it starts on) and
/// the JSON object, or why it could not be read.
public struct SourceRow: @unchecked Sendable {   // the object is JSON: strings, numbers, arrays, dictionaries
    public var line: Int
    /// JSON Lines keep their bytes and parse when read, so a large file is not held as
    /// objects all at once (47k perfumes: ~800 MB as dictionaries, 19 MB as bytes).
    private let parse: @Sendable () -> Result<[String: Any], RowError>
    public var object: Result<[String: Any], RowError> { parse() }
    /// The raw text, for the rejects file (cut to 2 KB). Made when asked: most rows are never
    /// rejected, and decoding 2 KB of each line up front cost more than the line split did.
    public var raw: String { rawText() }
    private let rawText: @Sendable () -> String

    public init(line: Int, object: Result<[String: Any], RowError>, raw: String) {
        self.line = line
        let boxed = UncheckedResult(object)
        parse = { boxed.value }
        rawText = { raw }
    }

    init(line: Int, json: Data) {
        self.line = line
        rawText = { String(decoding: json.prefix(2048), as: UTF8.self) }
        parse = {
            let lifted = VectorScanner.lift(json)
            guard let value = try? JSONSerialization.jsonObject(with: lifted?.rest ?? json) else { return .failure(RowError("not valid JSON")) }
            guard var o = value as? [String: Any] else { return .failure(RowError("the line is JSON but not an object")) }
            if let v = lifted?.vectors[0] { o["vector"] = v }
            return .success(o)
        }
    }
}

private struct UncheckedResult: @unchecked Sendable {   // immutable once made
    let value: Result<[String: Any], RowError>
    init(_ v: Result<[String: Any], RowError>) { value = v }
}

/// Reads JSON Lines or CSV (optionally zstd-compressed) into rows.
public enum RowReader {
    public enum Format: String, Sendable { case jsonl, csv }

    /// CSV columns -> fields. `notes.top` style targets build nested objects; list fields take
    /// a comma-separated cell.
    public struct CSVMapping: Sendable {
        public var columns: [String: String]
        public init(columns: [String: String]) { self.columns = columns }

        /// `{"columns": {"Perfume": "name", "Top": "notes.top"}}`
        public init(json: Data) throws {
            guard let o = try? JSONSerialization.jsonObject(with: json) as? [String: Any], let c = o["columns"] as? [String: String] else {
                throw StoreError(.badRequest, "a CSV mapping is {\"columns\": {\"<column>\": \"<field>\", …}}")
            }
            columns = c
        }
    }

    public static func format(of url: URL) -> Format {
        let name = url.lastPathComponent.lowercased().replacingOccurrences(of: ".zst", with: "")
        return name.hasSuffix(".csv") ? .csv : .jsonl
    }

    /// The file's bytes, decompressed when it ends in `.zst`.
    public static func bytes(of url: URL) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw StoreError(.io, "cannot read \(url.path): \(error.localizedDescription)") }
        guard url.pathExtension.lowercased() == "zst" else { return data }
        do { return Data(try Zstd.decompress([UInt8](data))) }
        catch let e as ProtocolError { throw StoreError(e.code, "\(url.path): \(e.message)") }
    }

    public static func rows(_ bytes: [UInt8], format: Format, mapping: CSVMapping? = nil) throws -> [SourceRow] {
        try rows(Data(bytes), format: format, mapping: mapping)
    }

    public static func rows(_ data: Data, format: Format, mapping: CSVMapping? = nil) throws -> [SourceRow] {
        switch format {
        case .jsonl: return jsonLines(data)
        case .csv: return try csv([UInt8](data), mapping: mapping)
        }
    }

    /// Each row keeps a slice of `data` (shared storage, no copy per line).
    static func jsonLines(_ data: Data) -> [SourceRow] {
        var out: [SourceRow] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var from = 0, line = 0
            while from <= raw.count {
                let end = memchr(base + from, 0x0A, raw.count - from).map { base.distance(to: UnsafeRawPointer($0)) } ?? raw.count
                line += 1
                if raw[from..<end].contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) {
                    out.append(SourceRow(line: line, json: data[(data.startIndex + from)..<(data.startIndex + end)]))
                }
                from = end + 1
            }
        }
        return out
    }

    /// RFC 4180: quoted cells may hold commas, doubled quotes and line breaks.
    static func csv(_ bytes: [UInt8], mapping: CSVMapping?) throws -> [SourceRow] {
        var records: [(line: Int, cells: [String], raw: String)] = []
        var cells: [String] = []
        var cell: [UInt8] = []
        var quoted = false, line = 1, start = 1, rawStart = 0
        var i = 0
        func endCell() { cells.append(String(decoding: cell, as: UTF8.self)); cell.removeAll(keepingCapacity: true) }
        func endRecord(_ end: Int) {
            endCell()
            if !(cells.count == 1 && cells[0].isEmpty) {
                records.append((start, cells, String(decoding: bytes[rawStart..<min(end, rawStart + 2048)], as: UTF8.self)))
            }
            cells = []
        }
        while i < bytes.count {
            let b = bytes[i]
            if quoted {
                if b == 0x22 {
                    if i + 1 < bytes.count && bytes[i + 1] == 0x22 { cell.append(0x22); i += 1 } else { quoted = false }
                } else {
                    if b == 0x0A { line += 1 }
                    cell.append(b)
                }
            } else if b == 0x22 && cell.isEmpty {
                quoted = true
            } else if b == 0x2C {
                endCell()
            } else if b == 0x0A || b == 0x0D {
                endRecord(i)
                if b == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
                line += 1
                start = line
                rawStart = i + 1
            } else {
                cell.append(b)
            }
            i += 1
        }
        if !cell.isEmpty || !cells.isEmpty { endRecord(bytes.count) }
        guard let header = records.first else { return [] }
        let names = header.cells.map { $0.trimmingCharacters(in: .whitespaces) }
        // A mapped column the header lacks would silently drop that field from every row.
        if let mapping {
            let missing = mapping.columns.keys.filter { !names.contains($0) }.sorted()
            if let first = missing.first {
                let near = closestName(first, among: names).map { " (did you mean '\($0)'?)" } ?? ""
                throw StoreError(.badRequest, "the CSV mapping names column\(missing.count == 1 ? "" : "s") \(missing.map { "'\($0)'" }.joined(separator: ", ")) that the header does not have\(near); the header's columns: \(names.joined(separator: ", "))")
            }
        }
        return records.dropFirst().map { r in
            guard r.cells.count == names.count else {
                return SourceRow(line: r.line, object: .failure(RowError("\(r.cells.count) cells; the header has \(names.count)")), raw: r.raw)
            }
            var o: [String: Any] = [:]
            for (name, value) in zip(names, r.cells) {
                let target = mapping.map { $0.columns[name] } ?? name
                guard let target, !value.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                let parts = target.split(separator: ".", maxSplits: 1).map(String.init)
                if parts.count == 2 {
                    var nested = o[parts[0]] as? [String: Any] ?? [:]
                    nested[parts[1]] = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    o[parts[0]] = nested
                } else {
                    o[target] = value
                }
            }
            return SourceRow(line: r.line, object: .success(o), raw: r.raw)
        }
    }
}
