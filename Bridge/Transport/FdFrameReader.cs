using Bridge.Protocol;

namespace Bridge.Transport;

/// <summary>
/// Reads length-prefixed frames from a raw fd with blocking reads: several small frames per
/// <c>read</c> call; a frame bigger than the buffer is read straight into its own array.
/// </summary>
/// <remarks>
/// A returned <see cref="Frame"/>'s slices are valid until the next <see cref="TryRead"/>. Not
/// thread-safe: one reader loop per fd. Does not own the fd.
/// </remarks>
internal sealed class FdFrameReader
{
    private readonly int _fd;
    private readonly int _maxFrameBytes;
    private readonly int _maxDepth;
    private byte[] _buf;
    private int _start;
    private int _end;

    /// <summary>Creates a reader on <paramref name="fd"/>.</summary>
    public FdFrameReader(int fd, int maxFrameBytes = ProtocolLimits.DefaultMaxFrameBytes, int maxDepth = ProtocolLimits.MaxDepth, int bufferSize = 64 * 1024)
    {
        _fd = fd;
        _maxFrameBytes = maxFrameBytes;
        _maxDepth = maxDepth;
        _buf = new byte[bufferSize];
    }

    /// <summary>Whether bytes of a further frame are already buffered (no read needed for them).</summary>
    public bool HasBuffered => _end > _start;

    /// <summary>
    /// Reads the next frame. Returns false at a clean EOF (between frames).
    /// </summary>
    /// <exception cref="ProtocolException">A malformed frame, or EOF in the middle of one.</exception>
    /// <exception cref="IOException">read failed.</exception>
    public bool TryRead(out Frame frame)
    {
        frame = default;
        if (!Fill(4))
        {
            if (_end == _start)
                return false;
            throw new ProtocolException("EOF inside a frame header");
        }
        int n = Frame.CheckLength(_buf.AsSpan(_start, 4), _maxFrameBytes);
        if (n <= _buf.Length - 4)
        {
            if (!Fill(4 + n))
                throw new ProtocolException("EOF inside a frame body");
            var body = _buf.AsMemory(_start + 4, n);
            _start += 4 + n;
            frame = Frame.Decode(body, _maxDepth);
            return true;
        }
        // A big frame: its own array, read directly into it.
        var big = new byte[n];
        int have = _end - _start - 4;
        _buf.AsSpan(_start + 4, have).CopyTo(big);
        _start = _end = 0;
        while (have < n)
        {
            int r = FdIO.ReadSome(_fd, big.AsSpan(have));
            if (r == 0)
                throw new ProtocolException("EOF inside a frame body");
            have += r;
        }
        frame = Frame.Decode(big, _maxDepth);
        return true;
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available from _start; false at EOF.</summary>
    private bool Fill(int count)
    {
        if (_end - _start >= count)
            return true;
        if (_start + count > _buf.Length)
        {
            // Compact: the slices handed out earlier are dead by contract.
            Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        else if (_start == _end)
        {
            _start = _end = 0;
        }
        while (_end - _start < count)
        {
            int r = FdIO.ReadSome(_fd, _buf.AsSpan(_end));
            if (r == 0)
                return false;
            _end += r;
        }
        return true;
    }
}
