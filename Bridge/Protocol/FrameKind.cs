namespace Bridge.Protocol;

/// <summary>The kind of a frame: the first element of its array (PROTOCOL.md "Frames"). Never renumbered.</summary>
internal enum FrameKind
{
    /// <summary><c>[1, version, worker_kind, pid]</c>: a worker's first frame.</summary>
    Hello = 1,
    /// <summary><c>[2, version, config]</c>: the pool's first frame to a new worker.</summary>
    Init = 2,
    /// <summary><c>[3, task_id, encoding, target|nil, payload]</c>: a chunk of calls.</summary>
    Task = 3,
    /// <summary><c>[4, task_id, encoding, payload, elapsed_us]</c>: the results of a chunk.</summary>
    Result = 4,
    /// <summary><c>[5, task_id, error_map, pickled|nil]</c>: the chunk failed.</summary>
    Error = 5,
    /// <summary><c>[6]</c>: finish what was received, then exit 0.</summary>
    Stop = 6,
    /// <summary><c>[7, error_map]</c>: the worker cannot go on and exits.</summary>
    Fatal = 7,
}

/// <summary>The encoding of a TASK/RESULT payload (PROTOCOL.md "TASK encodings").</summary>
internal enum TaskEncoding
{
    /// <summary>An opaque pickle (a MessagePack bin); .NET never decodes it.</summary>
    Pickle = 0,
    /// <summary>A MessagePack array of calls (TASK) or results (RESULT).</summary>
    MsgPack = 1,
}

/// <summary>Protocol constants.</summary>
internal static class ProtocolLimits
{
    /// <summary>The protocol version carried by HELLO and INIT.</summary>
    public const int Version = 1;
    /// <summary>The default largest frame body (1 GiB).</summary>
    public const int DefaultMaxFrameBytes = 1 << 30;
    /// <summary>The deepest nesting of values in a frame.</summary>
    public const int MaxDepth = 64;
}
