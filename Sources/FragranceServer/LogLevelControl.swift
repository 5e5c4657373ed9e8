import Logging
import Synchronization

/// A log level that can change while running (SIGHUP), shared by every logger made with
/// `handler(label:)`.
public final class LogLevelControl: Sendable {
    private let value: Mutex<Logger.Level>
    public init(_ level: Logger.Level = .info) { value = Mutex(level) }
    public var level: Logger.Level {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }

    /// A standard-error handler whose level is this control's.
    public func handler(label: String) -> any LogHandler { Handler(inner: StreamLogHandler.standardError(label: label), control: self) }

    struct Handler: LogHandler {
        var inner: StreamLogHandler
        let control: LogLevelControl
        var logLevel: Logger.Level {
            get { control.level }
            set { control.level = newValue }
        }
        var metadata: Logger.Metadata {
            get { inner.metadata }
            set { inner.metadata = newValue }
        }
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { inner[metadataKey: key] }
            set { inner[metadataKey: key] = newValue }
        }
        func log(event: LogEvent) { inner.log(event: event) }
    }
}
