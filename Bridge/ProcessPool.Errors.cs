using System.Buffers;
using System.Text;
using MessagePack;

namespace Bridge;

// Design notes: turning a chunk's non-OK status (Bridge/ABI.md "Job model") into the exception a
// C# caller sees. Every failed call gets a fresh exception instance (never shared between calls).
//   ERROR    payload [error_map, pickled|nil]   -> PythonException / RemoteInvocationException
//   CRASHED  payload error_map (+exitcode, pid) -> WorkerCrashedException
//   CANCELLED payload error_map                 -> OperationCanceledException(token) when our token
//                                                  fired, else ObjectDisposedException (terminated)
//   BROKEN   payload error_map (FATAL's map)    -> BrokenPoolException
public sealed partial class ProcessPool
{
    internal const int StatusOk = 0, StatusError = 1, StatusCrashed = 2, StatusCancelled = 3, StatusBroken = 4;

    /// <summary>The exception for a chunk that finished with a non-OK status.</summary>
    internal Exception ErrorFromStatus(int status, ReadOnlyMemory<byte> payload, TargetKind kind, CancellationToken cancellationToken)
    {
        switch (status)
        {
            case StatusError:
            {
                var reader = new MessagePackReader(payload);
                if (reader.TryReadArrayHeader(out int n) && n >= 1)
                {
                    var map = ReadValue(ref reader, 0) as Dictionary<string, object?>;
                    return RemoteErrorFromMap(map, kind);
                }
                return RemoteErrorFromMap(ReadValue(ref reader, 0) as Dictionary<string, object?>, kind);
            }
            case StatusCrashed:
            {
                var map = ReadMap(payload);
                string message = Str(map, "message") ?? "a worker process died while running this call";
                int pid = (int)(Long(map, "pid") ?? 0);
                long? exitCode = Long(map, "exitcode");
                return new WorkerCrashedException(message, pid, exitCode is null ? null : (int)exitCode.Value);
            }
            case StatusCancelled:
                if (cancellationToken.IsCancellationRequested)
                {
                    return new OperationCanceledException(cancellationToken);
                }
                return new ObjectDisposedException(nameof(ProcessPool),
                    "The pool was disposed (its workers terminated) before this call finished: " + (Str(ReadMap(payload), "message") ?? "cancelled"));
            case StatusBroken:
            {
                var map = ReadMap(payload);
                string message = Str(map, "message") ?? "the worker processes cannot start";
                string type = Str(map, "type") ?? "";
                string prefix = kind == TargetKind.Python ? "Python workers cannot run" : ".NET workers cannot run";
                Exception? cause = map?.GetValueOrDefault("cause") is Dictionary<string, object?> c ? RemoteErrorFromMap(c, kind) : null;
                return new BrokenPoolException($"{prefix}: {(type.Length > 0 ? type + ": " : "")}{message}", type, Str(map, "traceback") ?? "", cause);
            }
            default:
                return new InvalidOperationException($"unknown chunk status {status}");
        }
    }

    /// <summary>A remote error map (PROTOCOL.md "ERROR map") as an exception, with its cause chain.</summary>
    internal static Exception RemoteErrorFromMap(Dictionary<string, object?>? map, TargetKind kind, int depth = 0)
    {
        string type = Str(map, "type") ?? (kind == TargetKind.Python ? "builtins.Exception" : "System.Exception");
        string message = Str(map, "message") ?? "";
        string trace = Str(map, "traceback") ?? "";
        string errorKind = Str(map, "kind") ?? "raised";
        long? index = Long(map, "index");
        Exception? inner = depth < 32 && map?.GetValueOrDefault("cause") is Dictionary<string, object?> cause
            ? RemoteErrorFromMap(cause, kind, depth + 1)
            : null;
        int? idx = index is null ? null : (int)index.Value;
        return kind == TargetKind.Python
            ? new PythonException(type, message, trace, errorKind, idx, inner)
            : new RemoteInvocationException(type, message, trace, errorKind, idx, inner);
    }

    private static Dictionary<string, object?>? ReadMap(ReadOnlyMemory<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return null;
        }
        var reader = new MessagePackReader(payload);
        return ReadValue(ref reader, 0) as Dictionary<string, object?>;
    }

    private static string? Str(Dictionary<string, object?>? map, string key) =>
        map is not null && map.TryGetValue(key, out var v) ? v as string : null;

    private static long? Long(Dictionary<string, object?>? map, string key) =>
        map is not null && map.TryGetValue(key, out var v) && v is long l ? l : null;

    /// <summary>An untyped reading of an error map: strings, longs, nested maps; anything else skipped (null).</summary>
    private static object? ReadValue(ref MessagePackReader reader, int depth)
    {
        if (depth > 64)
        {
            reader.Skip();
            return null;
        }
        switch (reader.NextMessagePackType)
        {
            case MessagePackType.Nil:
                reader.ReadNil();
                return null;
            case MessagePackType.String:
                return reader.ReadString();
            case MessagePackType.Integer:
                return reader.NextCode == MessagePackCode.UInt64 ? (long)Math.Min(reader.ReadUInt64(), long.MaxValue) : reader.ReadInt64();
            case MessagePackType.Binary:
            {
                var bytes = reader.ReadBytes();
                return bytes is { } b ? Encoding.UTF8.GetString(b.ToArray()) : null;
            }
            case MessagePackType.Map:
            {
                int count = reader.ReadMapHeader();
                var map = new Dictionary<string, object?>(count);
                for (int i = 0; i < count; i++)
                {
                    if (reader.NextMessagePackType == MessagePackType.String)
                    {
                        string key = reader.ReadString()!;
                        map[key] = ReadValue(ref reader, depth + 1);
                    }
                    else
                    {
                        reader.Skip();
                        reader.Skip();
                    }
                }
                return map;
            }
            default:
                reader.Skip();
                return null;
        }
    }
}
