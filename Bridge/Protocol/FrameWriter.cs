using System.Buffers;
using System.Buffers.Binary;
using MessagePack;

namespace Bridge.Protocol;

/// <summary>
/// Writes length-prefixed frames (PROTOCOL.md "Framing") into a pooled, growable buffer. Several
/// frames can be appended before the buffer is written out with one <c>write</c> call
/// (<see cref="WrittenMemory"/>); <see cref="Reset"/> starts over.
/// </summary>
/// <remarks>
/// <para>Usage: <c>w.WriteResult(id, TaskEncoding.MsgPack, rawArray, elapsedUs);
/// FdIO.WriteAll(fd, w.WrittenSpan); w.Reset();</c></para>
/// <para>For a frame whose elements are produced in place (no intermediate copy), call
/// <see cref="BeginFrame"/>, write the array with the returned <see cref="MessagePackWriter"/>, then
/// <see cref="EndFrame"/>.</para>
/// <para>Not thread-safe. Dispose returns the buffer to the pool.</para>
/// </remarks>
internal sealed class FrameWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _written;
    private int _frameStart = -1;
    private readonly int _maxFrameBytes;

    /// <summary>Creates a writer.</summary>
    /// <param name="initialCapacity">Initial buffer size in bytes.</param>
    /// <param name="maxFrameBytes">Largest body allowed; a bigger frame throws <see cref="ProtocolException"/>.</param>
    public FrameWriter(int initialCapacity = 4096, int maxFrameBytes = ProtocolLimits.DefaultMaxFrameBytes)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 64));
        _maxFrameBytes = maxFrameBytes;
    }

    /// <summary>The bytes of all frames written since the last <see cref="Reset"/>.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    /// <summary>The bytes of all frames written since the last <see cref="Reset"/>.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>The number of bytes written since the last <see cref="Reset"/>.</summary>
    public int WrittenCount => _written;

    /// <summary>Forgets everything written (keeps the buffer).</summary>
    public void Reset()
    {
        _written = 0;
        _frameStart = -1;
        if (_buffer.Length > 1 << 20)
        {
            // Don't keep a huge buffer alive after one big frame.
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(4096);
        }
    }

    /// <summary>Starts a frame: reserves its length prefix and returns a writer for its array.</summary>
    /// <exception cref="InvalidOperationException">A frame is already open.</exception>
    public MessagePackWriter BeginFrame()
    {
        if (_frameStart >= 0)
            throw new InvalidOperationException("a frame is already open");
        _frameStart = _written;
        GetSpan(4);
        Advance(4);
        return new MessagePackWriter(this);
    }

    /// <summary>Ends the frame begun by <see cref="BeginFrame"/>: flushes the writer and fills in the length.</summary>
    /// <exception cref="ProtocolException">The body is empty or bigger than the limit (the frame is dropped).</exception>
    public void EndFrame(ref MessagePackWriter writer)
    {
        writer.Flush();
        int start = _frameStart;
        _frameStart = -1;
        int n = _written - start - 4;
        if (n <= 0 || n > _maxFrameBytes)
        {
            _written = start;
            throw new ProtocolException($"frame body of {n} bytes is outside 1..{_maxFrameBytes} (max_frame_bytes)");
        }
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(start, 4), (uint)n);
    }

    /// <summary>Writes <c>[1, version, worker_kind, pid]</c>.</summary>
    public void WriteHello(string workerKind, int pid, int version = ProtocolLimits.Version)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(4);
        w.Write((int)FrameKind.Hello);
        w.Write(version);
        w.Write(workerKind);
        w.Write(pid);
        EndFrame(ref w);
    }

    /// <summary>Writes <c>[2, version, config]</c>; <paramref name="rawConfigMap"/> is a packed MessagePack map.</summary>
    public void WriteInit(ReadOnlySpan<byte> rawConfigMap, int version = ProtocolLimits.Version)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(3);
        w.Write((int)FrameKind.Init);
        w.Write(version);
        w.WriteRaw(rawConfigMap);
        EndFrame(ref w);
    }

    /// <summary>
    /// Writes <c>[3, task_id, encoding, target, payload]</c>. <paramref name="payload"/> is the pickle
    /// bytes for <see cref="TaskEncoding.Pickle"/> (written as a bin) or the packed MessagePack array
    /// of calls for <see cref="TaskEncoding.MsgPack"/> (written raw).
    /// </summary>
    public void WriteTask(long taskId, TaskEncoding encoding, string? target, ReadOnlySpan<byte> payload)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(5);
        w.Write((int)FrameKind.Task);
        w.Write(taskId);
        w.Write((int)encoding);
        if (target is null)
            w.WriteNil();
        else
            w.Write(target);
        WritePayload(ref w, encoding, payload);
        EndFrame(ref w);
    }

    /// <summary>
    /// Writes a TASK whose target is already UTF-8 encoded (the pool's hot path: no string work).
    /// <paramref name="utf8Target"/> null means nil.
    /// </summary>
    public void WriteTask(long taskId, TaskEncoding encoding, byte[]? utf8Target, ReadOnlySpan<byte> payload)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(5);
        w.Write((int)FrameKind.Task);
        w.Write(taskId);
        w.Write((int)encoding);
        if (utf8Target is null)
            w.WriteNil();
        else
            w.WriteString(utf8Target);
        WritePayload(ref w, encoding, payload);
        EndFrame(ref w);
    }

    /// <summary>
    /// Writes <c>[4, task_id, encoding, payload, elapsed_us]</c>; <paramref name="payload"/> as for
    /// <see cref="WriteTask(long, TaskEncoding, string?, ReadOnlySpan{byte})"/> (pickle bytes, or a packed array of results).
    /// </summary>
    public void WriteResult(long taskId, TaskEncoding encoding, ReadOnlySpan<byte> payload, long elapsedUs)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(5);
        w.Write((int)FrameKind.Result);
        w.Write(taskId);
        w.Write((int)encoding);
        WritePayload(ref w, encoding, payload);
        w.Write(elapsedUs);
        EndFrame(ref w);
    }

    /// <summary>Writes <c>[5, task_id, error, pickled|nil]</c> from a packed error map (see <see cref="ErrorMap"/>).</summary>
    public void WriteError(long taskId, ReadOnlySpan<byte> rawErrorMap, ReadOnlySpan<byte> pickled = default, bool hasPickled = false)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(4);
        w.Write((int)FrameKind.Error);
        w.Write(taskId);
        w.WriteRaw(rawErrorMap);
        if (hasPickled)
            w.Write(pickled);
        else
            w.WriteNil();
        EndFrame(ref w);
    }

    /// <summary>Writes <c>[5, task_id, error, nil]</c> with the error map built from <paramref name="error"/>.</summary>
    public void WriteError(long taskId, ErrorMap error)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(4);
        w.Write((int)FrameKind.Error);
        w.Write(taskId);
        error.Write(ref w);
        w.WriteNil();
        EndFrame(ref w);
    }

    /// <summary>Writes <c>[6]</c>.</summary>
    public void WriteStop()
    {
        var w = BeginFrame();
        w.WriteArrayHeader(1);
        w.Write((int)FrameKind.Stop);
        EndFrame(ref w);
    }

    /// <summary>Writes <c>[7, error]</c> with the error map built from <paramref name="error"/>.</summary>
    public void WriteFatal(ErrorMap error)
    {
        var w = BeginFrame();
        w.WriteArrayHeader(2);
        w.Write((int)FrameKind.Fatal);
        error.Write(ref w);
        EndFrame(ref w);
    }

    private static void WritePayload(ref MessagePackWriter w, TaskEncoding encoding, ReadOnlySpan<byte> payload)
    {
        if (encoding == TaskEncoding.Pickle)
            w.Write(payload);
        else if (payload.IsEmpty)
            w.WriteArrayHeader(0);
        else
            w.WriteRaw(payload);
    }

    /// <inheritdoc/>
    public void Advance(int count) => _written += count;

    /// <inheritdoc/>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
            sizeHint = 256;
        if (_buffer.Length - _written >= sizeHint)
            return;
        long want = Math.Max((long)_buffer.Length * 2, (long)_written + sizeHint);
        if (want > Array.MaxLength)
            want = Math.Max(Array.MaxLength, _written + sizeHint);
        var bigger = ArrayPool<byte>.Shared.Rent((int)want);
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose()
    {
        var b = _buffer;
        _buffer = [];
        _written = 0;
        if (b.Length > 0)
            ArrayPool<byte>.Shared.Return(b);
    }
}
