namespace Bridge.Transport;

/// <summary>
/// The pool's write end of one worker's task pipe. <see cref="Send"/> never blocks: it writes what
/// the pipe takes right now (O_NONBLOCK) and hands the rest to a writer thread of this pipe that
/// waits for POLLOUT, preserving byte order across calls.
/// </summary>
/// <remarks>
/// Design notes: the thread that reads a worker's results must never block on writing that
/// worker's tasks (the worker may itself be blocked writing a big result). The writer thread is
/// started on the first backlog only; small frames never need it. Thread-safe.
/// </remarks>
internal sealed class TaskPipe
{
    private readonly object _lock = new();
    private readonly Queue<(byte[] Data, int Offset)> _pending = new();
    private int _fd;
    private bool _closed;
    private bool _writerBusy;   // the writer thread is inside a syscall on _fd
    private Thread? _writer;
    private readonly string _name;

    /// <summary>Wraps <paramref name="fd"/> (O_NONBLOCK); the pipe owns and closes it.</summary>
    public TaskPipe(int fd, string name)
    {
        _fd = fd;
        _name = name;
    }

    /// <summary>Whether the pipe broke (EPIPE) or was closed.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Bytes waiting for the writer thread.</summary>
    public long Backlog
    {
        get
        {
            lock (_lock)
            {
                long n = 0;
                foreach (var (d, o) in _pending)
                    n += d.Length - o;
                return n;
            }
        }
    }

    /// <summary>Sends <paramref name="data"/> (whole frames). Never blocks. Returns false if the pipe is closed or broken (the data is dropped).</summary>
    public bool Send(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_closed || IsBroken)
                return false;
            int written = 0;
            if (_pending.Count == 0 && !_writerBusy)
            {
                try
                {
                    written = FdIO.WriteNonBlocking(_fd, data);
                }
                catch (IOException)
                {
                    IsBroken = true;
                    return false;
                }
                if (written == data.Length)
                    return true;
            }
            _pending.Enqueue((data[written..].ToArray(), 0));
            if (_writer is null)
            {
                using (ExecutionContext.SuppressFlow())
                {
                    _writer = new Thread(WriterLoop) { IsBackground = true, Name = "dotbridge-writer-" + _name };
                    _writer.Start();
                }
            }
            else
            {
                Monitor.Pulse(_lock);
            }
            return true;
        }
    }

    private void WriterLoop()
    {
        while (true)
        {
            byte[] data;
            int offset;
            int fd;
            lock (_lock)
            {
                while (_pending.Count == 0 && !_closed)
                    Monitor.Wait(_lock);
                if (_closed)
                {
                    _pending.Clear();
                    CloseFdLocked();
                    return;
                }
                (data, offset) = _pending.Peek();
                fd = _fd;
                _writerBusy = true;
            }
            int n = 0;
            bool broken = false;
            try
            {
                FdIO.WaitFd(fd, Libc.POLLOUT, 250);
                n = FdIO.WriteNonBlocking(fd, data.AsSpan(offset));
            }
            catch (IOException)
            {
                broken = true;
            }
            lock (_lock)
            {
                _writerBusy = false;
                if (broken)
                {
                    IsBroken = true;
                    _pending.Clear();
                }
                else if (n > 0)
                {
                    _pending.Dequeue();
                    if (offset + n < data.Length)
                    {
                        // Put the rest back at the front: rebuild the queue (rare: big frames only).
                        var rest = _pending.ToArray();
                        _pending.Clear();
                        _pending.Enqueue((data, offset + n));
                        foreach (var item in rest)
                            _pending.Enqueue(item);
                    }
                }
                if (_closed)
                {
                    _pending.Clear();
                    CloseFdLocked();
                    return;
                }
            }
        }
    }

    /// <summary>Closes the pipe (the worker sees EOF once the backlog is dropped). Idempotent.</summary>
    public void Close()
    {
        lock (_lock)
        {
            if (_closed)
                return;
            _closed = true;
            if (_writer is null || !_writerBusy)
                CloseFdLocked();
            Monitor.Pulse(_lock);
        }
    }

    private void CloseFdLocked()
    {
        if (_fd >= 0)
        {
            FdIO.CloseQuietly(_fd);
            _fd = -1;
        }
    }
}
