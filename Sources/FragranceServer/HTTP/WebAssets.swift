import Foundation

/// The static files of the pages (/docs, /console): Resources/web, bundled into the binary's
/// resources and read once, served at /assets/<name> with their content type. Only names found
/// there are served; no path is ever built from a request.
struct WebAssets: Sendable {
    struct Asset: Sendable { let data: Data; let contentType: String }
    let files: [String: Asset]

    static let shared = WebAssets()

    init() {
        var files: [String: Asset] = [:]
        if let dir = Bundle.module.url(forResource: "web", withExtension: nil),
           let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for name in names {
                guard let data = try? Data(contentsOf: dir.appendingPathComponent(name)) else { continue }
                files[name] = Asset(data: data, contentType: Self.type(of: name))
            }
        }
        self.files = files
    }

    static func type(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "html": "text/html; charset=utf-8"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }

    subscript(_ name: String) -> Asset? { files[name] }
}
