import FragranceProtocol
import FragranceStore
import Foundation

// SNAPSHOT, RESTORE, RELOAD — and `POST /api/v1/collections/{name}/snapshot`,
// `POST /api/v1/snapshots/restore`, `POST /api/v1/admin/reload`.
extension FragranceService {
    /// Writes `snapshots/<collection>-<time>.fdbz` in the data directory; replies that relative path.
    public func snapshot(_ collectionName: String) throws -> SnapshotReply {
        let c = try collection(collectionName)
        let dir = database.directory.appendingPathComponent("snapshots")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = f.string(from: Date()).replacingOccurrences(of: ":", with: "")
        // The name is claimed with O_EXCL, so two snapshots in the same millisecond (or an
        // older file of that name) are never overwritten: the second gets "-2", and so on.
        var n = 1
        var file: URL
        while true {
            file = dir.appendingPathComponent("\(c.config.name)-\(stamp)\(n == 1 ? "" : "-\(n)").fdbz")
            let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 { close(fd); break }
            guard errno == EEXIST, n < 1000 else { throw StoreError(.io, "cannot create \(file.path): \(String(cString: strerror(errno)))") }
            n += 1
        }
        do { try c.snapshot(to: file) } catch {
            unlink(file.path)
            throw error
        }
        return SnapshotReply(file: "snapshots/\(file.lastPathComponent)")
    }

    /// Restores a file of the data directory's snapshots/ (a bare name: never a path elsewhere).
    public func restore(file: String, as target: String?) throws -> RestoreReply {
        try checkWritable()
        let name = file.hasPrefix("snapshots/") ? String(file.dropFirst("snapshots/".count)) : file
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw ProtocolError(.badRequest, "give a file name inside the data directory's snapshots/, not a path", field: "file")
        }
        let url = database.directory.appendingPathComponent("snapshots").appendingPathComponent(name)
        let c = try database.restore(from: url, as: target)
        return RestoreReply(restored: c.config.name, records: c.count)
    }

    /// Re-reads the settings that may change live (as SIGHUP does); says what changed.
    public func reload() async throws -> ReloadReply {
        let reply = ReloadReply(reloaded: try await reloadHook())
        queryCache.clear()   // nothing reloadable changes results today; a reload must not leave that to chance
        return reply
    }
}
