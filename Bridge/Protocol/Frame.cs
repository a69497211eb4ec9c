using System.Buffers;
using MessagePack;

namespace Bridge.Protocol;

/// <summary>
/// One decoded frame envelope (PROTOCOL.md "Frames"). Scalars are decoded; payloads and maps are
/// raw slices of the frame body (no copy): they stay valid only as long as the body they were
/// decoded from (for <see cref="Bridge.Transport.FdFrameReader"/>: until its next read).
/// </summary>
/// <remarks>Which members are meaningful depends on <see cref="Kind"/>:
/// <list type="bullet">
/// <item><description>HELLO: <see cref="Version"/>, <see cref="WorkerKind"/>, <see cref="Pid"/>.</description></item>
/// <item><description>INIT: <see cref="Version"/>, <see cref="Map"/> (raw config map).</description></item>
/// <item><description>TASK: <see cref="TaskId"/>, <see cref="Encoding"/>, <see cref="Target"/>,
/// <see cref="Payload"/> (encoding 0: the bin's bytes; encoding 1: the raw MessagePack array).</description></item>
/// <item><description>RESULT: <see cref="TaskId"/>, <see cref="Encoding"/>, <see cref="Payload"/> (as for TASK),
/// <see cref="ElapsedUs"/>.</description></item>
/// <item><description>ERROR: <see cref="TaskId"/>, <see cref="Map"/> (raw error map), <see cref="Pickled"/>
/// (the bin's bytes) and <see cref="HasPickled"/>; <see cref="Payload"/> is the raw
/// <c>[error_map, pickled|nil]</c> tail of the frame (what the pool hands out as an ERROR status payload).</description></item>
/// <item><description>STOP: nothing. FATAL: <see cref="Map"/> (raw error map).</description></item>
/// </list></remarks>
internal readonly struct Frame
{
    /// <summary>The frame kind.</summary>
    public FrameKind Kind { get; init; }
    /// <summary>HELLO/INIT: the protocol version.</summary>
    public int Version { get; init; }
    /// <summary>HELLO: <c>"python"</c> or <c>"dotnet"</c>.</summary>
    public string? WorkerKind { get; init; }
    /// <summary>HELLO: the worker's pid.</summary>
    public int Pid { get; init; }
    /// <summary>TASK/RESULT/ERROR: the task id.</summary>
    public long TaskId { get; init; }
    /// <summary>TASK/RESULT: the payload encoding.</summary>
    public TaskEncoding Encoding { get; init; }
    /// <summary>TASK: the target, or null.</summary>
    public string? Target { get; init; }
    /// <summary>TASK/RESULT: the payload (see remarks); ERROR: the raw <c>[error_map, pickled]</c>.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }
    /// <summary>RESULT: the worker's execution time of the task in microseconds.</summary>
    public long ElapsedUs { get; init; }
    /// <summary>INIT: raw config map; ERROR/FATAL: raw error map.</summary>
    public ReadOnlyMemory<byte> Map { get; init; }
    /// <summary>ERROR: the pickled exception's bytes (empty when nil).</summary>
    public ReadOnlyMemory<byte> Pickled { get; init; }
    /// <summary>ERROR: whether the pickled element was a bin (not nil).</summary>
    public bool HasPickled { get; init; }

    /// <summary>
    /// Decodes a frame body (the bytes after the length prefix): exactly one MessagePack array,
    /// nesting at most <paramref name="maxDepth"/> deep, with a valid envelope for its kind.
    /// </summary>
    /// <exception cref="ProtocolException">The body is malformed.</exception>
    public static Frame Decode(ReadOnlyMemory<byte> body, int maxDepth = ProtocolLimits.MaxDepth)
    {
        if (body.Length == 0)
            throw new ProtocolException("empty frame body");
        try
        {
            var check = new MessagePackReader(body);
            if (check.NextMessagePackType != MessagePackType.Array)
                throw new ProtocolException($"a frame must be one MessagePack array, not {check.NextMessagePackType}");
            Validate(ref check, maxDepth);
            if (check.Consumed != body.Length)
                throw new ProtocolException($"{body.Length - check.Consumed} trailing bytes after the frame's array");
            var r = new MessagePackReader(body);
            int n = r.ReadArrayHeader();
            if (n < 1)
                throw new ProtocolException("a frame must be a non-empty array");
            if (r.NextMessagePackType != MessagePackType.Integer)
                throw new ProtocolException("the frame kind must be an integer");
            long kind = r.ReadInt64();
            switch (kind)
            {
                case (long)FrameKind.Hello:
                    Need(n, 4, "HELLO");
                    return new Frame { Kind = FrameKind.Hello, Version = r.ReadInt32(), WorkerKind = ReadStr(ref r, "worker_kind"), Pid = r.ReadInt32() };
                case (long)FrameKind.Init:
                {
                    Need(n, 3, "INIT");
                    int version = r.ReadInt32();
                    if (r.NextMessagePackType != MessagePackType.Map)
                        throw new ProtocolException("INIT config must be a map");
                    return new Frame { Kind = FrameKind.Init, Version = version, Map = Slice(body, ref r) };
                }
                case (long)FrameKind.Task:
                {
                    Need(n, 5, "TASK");
                    long id = r.ReadInt64();
                    var enc = ReadEncoding(ref r);
                    string? target = r.TryReadNil() ? null : ReadStr(ref r, "target");
                    return new Frame { Kind = FrameKind.Task, TaskId = id, Encoding = enc, Target = target, Payload = ReadPayload(body, ref r, enc) };
                }
                case (long)FrameKind.Result:
                {
                    Need(n, 5, "RESULT");
                    long id = r.ReadInt64();
                    var enc = ReadEncoding(ref r);
                    var payload = ReadPayload(body, ref r, enc);
                    return new Frame { Kind = FrameKind.Result, TaskId = id, Encoding = enc, Payload = payload, ElapsedUs = r.ReadInt64() };
                }
                case (long)FrameKind.Error:
                {
                    Need(n, 4, "ERROR");
                    long id = r.ReadInt64();
                    int start = (int)r.Consumed;
                    if (r.NextMessagePackType != MessagePackType.Map)
                        throw new ProtocolException("ERROR error must be a map");
                    var map = Slice(body, ref r);
                    ReadOnlyMemory<byte> pickled = default;
                    bool has = false;
                    if (!r.TryReadNil())
                    {
                        if (r.NextMessagePackType != MessagePackType.Binary)
                            throw new ProtocolException("ERROR pickled must be bin or nil");
                        pickled = BinContents(body, ref r);
                        has = true;
                    }
                    // The status payload handed to callers: [error_map, pickled|nil] as raw MessagePack.
                    return new Frame { Kind = FrameKind.Error, TaskId = id, Map = map, Pickled = pickled, HasPickled = has, Payload = ErrorPayload(body, start, (int)r.Consumed) };
                }
                case (long)FrameKind.Stop:
                    return new Frame { Kind = FrameKind.Stop };
                case (long)FrameKind.Fatal:
                    Need(n, 2, "FATAL");
                    if (r.NextMessagePackType != MessagePackType.Map)
                        throw new ProtocolException("FATAL error must be a map");
                    return new Frame { Kind = FrameKind.Fatal, Map = Slice(body, ref r) };
                default:
                    throw new ProtocolException($"unknown frame kind {kind}");
            }
        }
        catch (MessagePackSerializationException e)
        {
            throw new ProtocolException("malformed frame: " + e.Message, e);
        }
        catch (EndOfStreamException e)
        {
            throw new ProtocolException("truncated frame body", e);
        }
        catch (OverflowException e)
        {
            throw new ProtocolException("an integer in the frame is out of range", e);
        }
        catch (ArgumentOutOfRangeException e)
        {
            // MessagePackReader.Skip of a str/bin/ext claiming >= 2 GiB (negative int length); issue 5
            throw new ProtocolException("a length in the frame is out of range", e);
        }
    }

    private static ReadOnlyMemory<byte> ErrorPayload(ReadOnlyMemory<byte> body, int start, int end)
    {
        // 0x92 = fixarray of 2, followed by the two raw elements.
        var buf = new byte[1 + end - start];
        buf[0] = 0x92;
        body.Span[start..end].CopyTo(buf.AsSpan(1));
        return buf;
    }

    private static void Need(int n, int min, string name)
    {
        if (n < min)
            throw new ProtocolException($"{name} frame has {n} elements, expected {min}");
    }

    private static string ReadStr(ref MessagePackReader r, string what)
    {
        if (r.NextMessagePackType != MessagePackType.String)
            throw new ProtocolException($"{what} must be a string");
        return r.ReadString() ?? throw new ProtocolException($"{what} must not be nil");
    }

    private static TaskEncoding ReadEncoding(ref MessagePackReader r)
    {
        long e = r.ReadInt64();
        if (e is not (0 or 1))
            throw new ProtocolException($"unknown payload encoding {e}");
        return (TaskEncoding)e;
    }

    private static ReadOnlyMemory<byte> ReadPayload(ReadOnlyMemory<byte> body, ref MessagePackReader r, TaskEncoding enc)
    {
        if (enc == TaskEncoding.Pickle)
        {
            if (r.NextMessagePackType != MessagePackType.Binary)
                throw new ProtocolException("a PICKLE payload must be a bin");
            return BinContents(body, ref r);
        }
        if (r.NextMessagePackType != MessagePackType.Array)
            throw new ProtocolException("a MSGPACK payload must be an array");
        return Slice(body, ref r);
    }

    private static ReadOnlyMemory<byte> BinContents(ReadOnlyMemory<byte> body, ref MessagePackReader r)
    {
        int len = r.ReadBytes() is { } seq ? (int)seq.Length : 0;
        int end = (int)r.Consumed;
        return body.Slice(end - len, len);
    }

    private static ReadOnlyMemory<byte> Slice(ReadOnlyMemory<byte> body, ref MessagePackReader r)
    {
        int start = (int)r.Consumed;
        r.Skip();
        return body[start..(int)r.Consumed];
    }

    /// <summary>Skips one value, checking nesting depth and that every element is complete.</summary>
    internal static void Validate(ref MessagePackReader r, int depthLeft)
    {
        if (r.End)
            throw new ProtocolException("truncated frame body");
        switch (r.NextMessagePackType)
        {
            case MessagePackType.Array:
            {
                if (depthLeft <= 0)
                    throw new ProtocolException("values nest deeper than the depth limit");
                int n = r.ReadArrayHeader();
                for (int i = 0; i < n; i++)
                    Validate(ref r, depthLeft - 1);
                break;
            }
            case MessagePackType.Map:
            {
                if (depthLeft <= 0)
                    throw new ProtocolException("values nest deeper than the depth limit");
                int n = r.ReadMapHeader();
                for (int i = 0; i < 2 * n; i++)
                    Validate(ref r, depthLeft - 1);
                break;
            }
            case MessagePackType.Unknown:
                throw new ProtocolException($"invalid MessagePack type code 0x{r.NextCode:x2}");
            default:
                r.Skip(); // throws EndOfStreamException on a truncated scalar
                break;
        }
    }

    /// <summary>Reads the 4-byte big-endian length prefix and checks it.</summary>
    /// <exception cref="ProtocolException">The length is 0 or above <paramref name="maxFrameBytes"/>.</exception>
    public static int CheckLength(ReadOnlySpan<byte> header, int maxFrameBytes)
    {
        uint n = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header);
        if (n == 0)
            throw new ProtocolException("frame length 0");
        if (n > (uint)maxFrameBytes)
            throw new ProtocolException($"frame length {n} exceeds the limit of {maxFrameBytes} bytes (max_frame_bytes)");
        return (int)n;
    }

    /// <summary>
    /// Tries to take one whole frame off the front of <paramref name="buffer"/> (a stream of
    /// length-prefixed frames). Returns false, leaving <paramref name="buffer"/> unchanged, when it
    /// does not yet hold a whole frame. The returned frame's slices point into a copy when the body
    /// spans segments, else into <paramref name="buffer"/>'s memory.
    /// </summary>
    /// <exception cref="ProtocolException">The next frame is malformed.</exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameBytes, out Frame frame, int maxDepth = ProtocolLimits.MaxDepth)
    {
        frame = default;
        if (buffer.Length < 4)
            return false;
        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        int n = CheckLength(header, maxFrameBytes);
        if (buffer.Length - 4 < n)
            return false;
        var bodySeq = buffer.Slice(4, n);
        ReadOnlyMemory<byte> body = bodySeq.IsSingleSegment ? bodySeq.First : bodySeq.ToArray();
        frame = Decode(body, maxDepth);
        buffer = buffer.Slice(4 + n);
        return true;
    }
}
