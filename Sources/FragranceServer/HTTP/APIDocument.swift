import Foundation
import Yams

/// The OpenAPI contract (schemas/openapi.yaml, bundled as a resource), served as JSON at
/// `/openapi.json` and as a readable page at `/docs`.
public struct APIDocument: Sendable {
    public let json: Data
    public let html: String
    /// Every operation, as "METHOD /path".
    public let operations: [String]

    public static let shared: Result<APIDocument, Error> = Result {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "openapi.yaml is missing from the bundle"])
        }
        return try APIDocument(yaml: String(contentsOf: url, encoding: .utf8))
    }

    public init(yaml: String) throws {
        guard let root = try Yams.load(yaml: yaml) as? [String: Any] else { throw CocoaError(.propertyListReadCorrupt) }
        json = try JSONSerialization.data(withJSONObject: APIDocument.jsonSafe(root), options: [.sortedKeys, .withoutEscapingSlashes])
        let paths = root["paths"] as? [String: Any] ?? [:]
        var ops: [String] = []
        var rows = ""
        let info = root["info"] as? [String: Any] ?? [:]
        for path in paths.keys.sorted() {
            guard let methods = paths[path] as? [String: Any] else { continue }
            for method in methods.keys.sorted() where ["get", "post", "put", "delete", "patch"].contains(method) {
                ops.append("\(method.uppercased()) \(path)")
                let op = methods[method] as? [String: Any] ?? [:]
                let role = (op["x-role"] as? String) ?? "none"
                rows += "<tr><td><code>\(method.uppercased())</code></td><td><code>\(esc(path))</code></td><td>\(esc(role))</td>"
                    + "<td><b>\(esc(op["summary"] as? String ?? ""))</b><br>\(esc(op["description"] as? String ?? ""))</td></tr>\n"
            }
        }
        operations = ops
        // The page renders /openapi.json in the browser (assets/docs.js); the table is what
        // a reader without JavaScript (or curl) gets.
        let title = esc(info["title"] as? String ?? "API") + " " + esc(info["version"] as? String ?? "")
        html = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title)</title><link rel="stylesheet" href="/assets/fdb.css"><link rel="icon" href="data:,"></head><body>
        <header class="bar"><h1>\(title)</h1><nav><a href="/docs">API docs</a><a href="/console">Console</a><a href="/openapi.json">openapi.json</a></nav>
        <span class="grow"></span><input id="filter" type="text" placeholder="filter operations" aria-label="filter operations">
        <input id="token" type="password" placeholder="bearer token (if keys are set)" aria-label="bearer token"></header>
        <main id="content"><noscript>
        <p>\(esc(info["description"] as? String ?? ""))</p>
        <p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are <code>{"error": {"code", "message", "field"}}</code>.</p>
        <table><tr><th>method</th><th>path</th><th>role</th><th>what it does</th></tr>
        \(rows)</table></noscript></main>
        <script src="/assets/dom.js"></script><script src="/assets/docs.js"></script></body></html>
        """
    }

    /// YAML gives Int/Double/Bool/String/Array/Dictionary, plus dates for unquoted timestamps.
    static func jsonSafe(_ v: Any) -> Any {
        switch v {
        case let d as [String: Any]: return d.mapValues(jsonSafe)
        case let a as [Any]: return a.map(jsonSafe)
        case let date as Date: return ISO8601DateFormatter().string(from: date)
        default: return v
        }
    }
}

extension APIDocument {
    /// The JSON Schemas the document and the README name, served at /schemas/<file>.
    public static let schemaFiles = ["material.schema.json", "perfume.schema.json", "recipe.schema.json"]

    /// One of `schemaFiles` from the bundle (nil for any other name: no path is ever built from the request).
    public static func schema(_ file: String) -> Data? {
        guard schemaFiles.contains(file), let dir = Bundle.module.url(forResource: "schemas", withExtension: nil) else { return nil }
        return try? Data(contentsOf: dir.appendingPathComponent(file))
    }
}

extension Result where Success == APIDocument {
    var json: Data { get throws { try get().json } }
    var html: String { get throws { try get().html } }
}

private func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
