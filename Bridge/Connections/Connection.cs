// Design notes
// ------------
// One end of a Python multiprocessing Connection, spoken from .NET. The wire format is the
// stdlib's (Lib/multiprocessing/connection.py, Connection._send_bytes/_recv_bytes): each
// message is a 4-byte big-endian signed length then the bytes; a message longer than
// 0x7fffffff bytes is sent as the length -1 then an 8-byte big-endian length then the bytes.
// Byte mode (SendBytes/RecvBytes) matches Python's send_bytes/recv_bytes exactly. Value mode
// (Send/Recv) puts one MessagePack value (Bridge/PROTOCOL.md "Values", MsgPackValues) in a
// message; Python reads and writes those with dotbridge.connection.send_value/recv_value
// (MessagePack). Pickle mode (SendPickled/RecvPickled) matches Python's own conn.send/conn.recv for plain
// values (PickleValues: None, bool, int, float, str, bytes, list, tuple, dict; anything else is refused, never
// run). Poll matches conn.poll(timeout) for an end over a pipe or FIFO (a FileStream).
//
// How a .NET worker gets an end: the Python side passes a *path* through the pool as a string
// argument, and the worker opens it (Connection.Open). dotbridge.connection.path_of(conn)
// gives "/proc/<pid>/fd/<n>" for a pipe end of Pipe(duplex=False) (Linux: opening that path
// opens the same pipe). Sockets (duplex Pipe) cannot be opened through /proc; use two simplex
// pipes, or dotbridge.connection.fifo_pair() (named FIFOs in a private 0700 directory).
using System.Buffers.Binary;
using Bridge.Connections.Internal;
using Microsoft.Win32.SafeHandles;

namespace Bridge.Connections;

/// <summary>
/// One end of a Python <c>multiprocessing</c> Connection (a pipe), speaking the stdlib's
/// message framing; byte mode and MessagePack value mode.
/// </summary>
/// <remarks>Not thread-safe: use one reader and one writer at a time.</remarks>
public sealed class Connection : IDisposable
{
    private readonly Stream? _read;
    private readonly Stream? _write;
    private int _disposed;

    /// <summary>Largest message <see cref="RecvBytes"/> accepts (bytes).</summary>
    public const int MaxMessageBytes = 1 << 30;

    /// <summary>Wraps streams: <paramref name="read"/> and/or <paramref name="write"/> may be null for a one-way end.</summary>
    /// <exception cref="ArgumentException">Both streams are null.</exception>
    public Connection(Stream? read, Stream? write)
    {
        if (read is null && write is null)
            throw new ArgumentException("a Connection needs a stream to read or to write");
        _read = read;
        _write = write;
    }

    /// <summary>
    /// Opens a path to a pipe: <c>/proc/&lt;pid&gt;/fd/&lt;n&gt;</c> of a Python pipe end or a named FIFO.
    /// </summary>
    /// <param name="path">The path, as given by Python's <c>dotbridge.connection.path_of</c>.</param>
    /// <param name="readable">Open it for reading (true) or writing (false).</param>
    /// <exception cref="IOException">The path cannot be opened.</exception>
    public static Connection Open(string path, bool readable)
    {
        var fs = new FileStream(path, readable ? FileMode.Open : FileMode.Open,
            readable ? FileAccess.Read : FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
        return readable ? new Connection(fs, null) : new Connection(null, fs);
    }

    /// <summary>Wraps an inherited file descriptor (e.g. one passed to a child with <c>pass_fds</c>).</summary>
    public static Connection FromFd(int fd, bool readable)
    {
        var fs = new FileStream(new SafeFileHandle(fd, ownsHandle: true), readable ? FileAccess.Read : FileAccess.Write, 1);
        return readable ? new Connection(fs, null) : new Connection(null, fs);
    }

    /// <summary>Whether this end can receive.</summary>
    public bool Readable => _read is not null;

    /// <summary>Whether this end can send.</summary>
    public bool Writable => _write is not null;

    /// <summary>Sends one message, as Python's <c>Connection.send_bytes</c>.</summary>
    /// <exception cref="InvalidOperationException">This end is read-only.</exception>
    /// <exception cref="ObjectDisposedException">The connection is closed.</exception>
    public void SendBytes(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Stream w = _write ?? throw new InvalidOperationException("connection is read-only");
        // A span is at most 0x7fffffff bytes, so the stdlib's -1 + 8-byte-length escape
        // (for longer messages) is only ever read, never written.
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        w.Write(header);
        w.Write(data);
        w.Flush();
    }

    /// <summary>Receives one message, as Python's <c>Connection.recv_bytes</c>.</summary>
    /// <returns>The bytes, or null at a clean end of file (the other end closed).</returns>
    /// <exception cref="InvalidOperationException">This end is write-only.</exception>
    /// <exception cref="IOException">A message is cut short or longer than <see cref="MaxMessageBytes"/>.</exception>
    public byte[]? RecvBytes()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Stream r = _read ?? throw new InvalidOperationException("connection is write-only");
        Span<byte> header = stackalloc byte[8];
        int got = ReadSome(r, header[..4]);
        if (got == 0)
            return null;
        if (got < 4)
            throw new IOException("got end of file during message header");
        long size = BinaryPrimitives.ReadInt32BigEndian(header);
        if (size == -1)
        {
            if (ReadSome(r, header) < 8)
                throw new IOException("got end of file during message header");
            size = BinaryPrimitives.ReadInt64BigEndian(header);
        }
        if (size < 0 || size > MaxMessageBytes)
            throw new IOException($"bad message length {size} (limit {MaxMessageBytes})");
        var data = new byte[size];
        if (ReadSome(r, data) < size)
            throw new IOException("got end of file during message");
        return data;
    }

    /// <summary>Sends one value in MessagePack (Python: <c>dotbridge.connection.recv_value</c>).</summary>
    /// <exception cref="ValueConversionException">The value has no MessagePack form.</exception>
    public void Send(object? value) => SendBytes(MsgPackValues.Serialize(value));

    /// <summary>Receives one MessagePack value (Python: <c>dotbridge.connection.send_value</c>).</summary>
    /// <exception cref="EndOfStreamException">The other end closed.</exception>
    public T Recv<T>() => MsgPackValues.Deserialize<T>(RecvBytes() ?? throw new EndOfStreamException("connection closed"));

    /// <summary>Receives one MessagePack value as an untyped graph (see <see cref="MsgPackValues"/>).</summary>
    /// <exception cref="EndOfStreamException">The other end closed.</exception>
    public object? Recv() => MsgPackValues.DeserializeObject(RecvBytes() ?? throw new EndOfStreamException("connection closed"));

    /// <summary>Sends one plain value pickled, as Python's <c>Connection.send(obj)</c> (Python reads it with <c>conn.recv()</c>).</summary>
    /// <exception cref="ValueConversionException">The value has no pickle here (see <see cref="PickleValues"/>).</exception>
    /// <exception cref="InvalidOperationException">This end is read-only.</exception>
    public void SendPickled(object? value) => SendBytes(PickleValues.Serialize(value));

    /// <summary>Receives one pickled value sent by Python's <c>conn.send(obj)</c>, as an untyped graph (see <see cref="PickleValues"/>).</summary>
    /// <exception cref="EndOfStreamException">The other end closed.</exception>
    /// <exception cref="PickleFormatException">The message is not the pickle of a plain value (it names the type).</exception>
    public object? RecvPickled() => PickleValues.DeserializeObject(RecvBytes() ?? throw new EndOfStreamException("connection closed"));

    /// <summary>Receives one pickled value converted to <typeparamref name="T"/>.</summary>
    /// <exception cref="EndOfStreamException">The other end closed.</exception>
    /// <exception cref="PickleFormatException">The message is not the pickle of a plain value.</exception>
    /// <exception cref="ValueConversionException">The value does not convert to <typeparamref name="T"/>.</exception>
    public T RecvPickled<T>() => PickleValues.Convert<T>(RecvPickled());

    /// <summary>
    /// Python's <c>conn.poll(timeout)</c>: whether a message (or the end of file) can be read within
    /// <paramref name="timeout"/> (null: wait for ever; zero: now).
    /// </summary>
    /// <exception cref="InvalidOperationException">This end is write-only.</exception>
    /// <exception cref="NotSupportedException">The end is not over a file descriptor (a pipe or FIFO opened by <see cref="Open"/> or <see cref="FromFd"/>).</exception>
    /// <exception cref="ObjectDisposedException">The connection is closed.</exception>
    public bool Poll(TimeSpan? timeout = null)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Stream r = _read ?? throw new InvalidOperationException("connection is write-only");
        if (r is not FileStream fs)
        {
            throw new NotSupportedException("Poll needs an end over a file descriptor (Connection.Open or FromFd)");
        }
        return FdPoll.Readable((int)fs.SafeFileHandle.DangerousGetHandle(), FdPoll.Milliseconds(timeout));
    }

    private static int ReadSome(Stream s, Span<byte> buf)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int n = s.Read(buf[total..]);
            if (n == 0)
                break;
            total += n;
        }
        return total;
    }

    /// <summary>Closes the streams. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _read?.Dispose();
        _write?.Dispose();
    }
}
