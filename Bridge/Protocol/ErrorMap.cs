using MessagePack;

namespace Bridge.Protocol;

/// <summary>
/// An ERROR/FATAL error map (PROTOCOL.md "ERROR map"): type, message, traceback, cause, kind,
/// index, plus the pool's extra keys <c>exitcode</c> and <c>pid</c> (CRASHED statuses).
/// </summary>
internal sealed class ErrorMap
{
    /// <summary>The remote exception's qualified type (<c>builtins.ValueError</c>, <c>System.ArgumentException</c>).</summary>
    public string Type { get; set; } = "";
    /// <summary>The exception's message.</summary>
    public string Message { get; set; } = "";
    /// <summary>The formatted traceback / stack trace.</summary>
    public string Traceback { get; set; } = "";
    /// <summary>The cause (<c>__cause__</c> / InnerException), or null.</summary>
    public ErrorMap? Cause { get; set; }
    /// <summary><c>"raised"</c>, <c>"result"</c>, <c>"args"</c> or <c>"target"</c>; null to omit.</summary>
    public string? Kind { get; set; }
    /// <summary>Index of the failing call within the batch, or null.</summary>
    public int? Index { get; set; }
    /// <summary>CRASHED: the exit code (negative = signal), or null to omit.</summary>
    public int? ExitCode { get; set; }
    /// <summary>CRASHED: the worker's pid, or null to omit.</summary>
    public int? Pid { get; set; }

    /// <summary>Writes the map.</summary>
    public void Write(ref MessagePackWriter w, int depth = 0)
    {
        int n = 5 + (Kind is null ? 0 : 1) + (ExitCode is null ? 0 : 1) + (Pid is null ? 0 : 1);
        w.WriteMapHeader(n);
        w.Write("type");
        w.Write(Type);
        w.Write("message");
        w.Write(Message);
        w.Write("traceback");
        w.Write(Traceback);
        w.Write("cause");
        if (Cause is null || depth >= 16)
            w.WriteNil();
        else
            Cause.Write(ref w, depth + 1);
        if (Kind is not null)
        {
            w.Write("kind");
            w.Write(Kind);
        }
        w.Write("index");
        if (Index is { } i)
            w.Write(i);
        else
            w.WriteNil();
        if (ExitCode is { } e)
        {
            w.Write("exitcode");
            w.Write(e);
        }
        if (Pid is { } p)
        {
            w.Write("pid");
            w.Write(p);
        }
    }

    /// <summary>Packs the map into a new array.</summary>
    public byte[] ToBytes()
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buf);
        Write(ref w);
        w.Flush();
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Reads a packed error map (unknown keys ignored).</summary>
    /// <exception cref="ProtocolException">The data is not a well-formed map.</exception>
    public static ErrorMap Parse(ReadOnlyMemory<byte> raw)
    {
        try
        {
            var r = new MessagePackReader(raw);
            return Read(ref r, 0);
        }
        catch (MessagePackSerializationException e)
        {
            throw new ProtocolException("malformed error map: " + e.Message, e);
        }
        catch (EndOfStreamException e)
        {
            throw new ProtocolException("truncated error map", e);
        }
    }

    private static ErrorMap Read(ref MessagePackReader r, int depth)
    {
        if (depth > ProtocolLimits.MaxDepth)
            throw new ProtocolException("error map nests too deep");
        if (r.NextMessagePackType != MessagePackType.Map)
            throw new ProtocolException("an error map must be a map");
        var m = new ErrorMap();
        int n = r.ReadMapHeader();
        for (int i = 0; i < n; i++)
        {
            string? key = r.NextMessagePackType == MessagePackType.String ? r.ReadString() : null;
            if (key is null)
            {
                r.Skip();
                r.Skip();
                continue;
            }
            if (r.TryReadNil())
                continue;
            switch (key)
            {
                case "type": m.Type = r.ReadString() ?? ""; break;
                case "message": m.Message = r.ReadString() ?? ""; break;
                case "traceback": m.Traceback = r.ReadString() ?? ""; break;
                case "kind": m.Kind = r.ReadString(); break;
                case "index": m.Index = r.ReadInt32(); break;
                case "exitcode": m.ExitCode = r.ReadInt32(); break;
                case "pid": m.Pid = r.ReadInt32(); break;
                case "cause": m.Cause = Read(ref r, depth + 1); break;
                default: r.Skip(); break;
            }
        }
        return m;
    }
}
