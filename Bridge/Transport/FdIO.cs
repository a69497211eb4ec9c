using Bridge.Protocol;

namespace Bridge.Transport;

/// <summary>
/// Blocking helpers for raw file descriptors: read and write whole buffers, looping on EINTR and
/// on partial reads/writes. Used by the workers (fd 3/4) and by the pool's reader threads.
/// </summary>
internal static unsafe class FdIO
{
    /// <summary>Writes all of <paramref name="data"/> to a blocking fd.</summary>
    /// <exception cref="IOException">write failed (EPIPE: the reader is gone).</exception>
    public static void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        // The write loop is WriteNonBlocking's; on a blocking fd it only stops short at EAGAIN
        // (an O_NONBLOCK fd that is full), and then we wait until it takes more.
        int off = WriteNonBlocking(fd, data);
        while (off < data.Length)
        {
            WaitFd(fd, Libc.POLLOUT, -1);
            off += WriteNonBlocking(fd, data[off..]);
        }
    }

    /// <summary>
    /// Writes as much as possible without blocking (the fd must be O_NONBLOCK). Returns the number
    /// of bytes written (0 when the pipe is full).
    /// </summary>
    /// <exception cref="IOException">write failed with something other than EAGAIN.</exception>
    public static int WriteNonBlocking(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int off = 0;
            while (off < data.Length)
            {
                nint n = Libc.Write(fd, p + off, data.Length - off);
                if (n >= 0)
                {
                    off += (int)n;
                    continue;
                }
                int e = Libc.Errno;
                if (e == Libc.EINTR)
                    continue;
                if (e == Libc.EAGAIN)
                    break;
                throw new IOException($"write to fd {fd} failed: {Libc.Describe(e)}", e);
            }
            return off;
        }
    }

    /// <summary>Reads at most <paramref name="buffer"/>.Length bytes; returns 0 at EOF.</summary>
    /// <exception cref="IOException">read failed.</exception>
    public static int ReadSome(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.Read(fd, p, buffer.Length);
                if (n >= 0)
                    return (int)n;
                int e = Libc.Errno;
                if (e == Libc.EINTR)
                    continue;
                if (e == Libc.EAGAIN)
                {
                    WaitFd(fd, Libc.POLLIN, -1);
                    continue;
                }
                throw new IOException($"read from fd {fd} failed: {Libc.Describe(e)}", e);
            }
        }
    }

    /// <summary>Waits until the fd is ready for <paramref name="events"/>; false on timeout.</summary>
    public static bool WaitFd(int fd, short events, int timeoutMs)
    {
        var pfd = new Libc.PollFd { Fd = fd, Events = events };
        while (true)
        {
            int r = Libc.Poll(&pfd, 1, timeoutMs);
            if (r >= 0)
                return r > 0;
            if (Libc.Errno != Libc.EINTR)
                return true; // let the following read/write report the error
        }
    }

    /// <summary>Writes one frame's bytes (or several frames) to a blocking fd.</summary>
    public static void WriteFrames(int fd, FrameWriter writer) => WriteAll(fd, writer.WrittenSpan);

    /// <summary>Closes an fd, ignoring errors (EINTR on close must not be retried on Linux).</summary>
    public static void CloseQuietly(int fd)
    {
        if (fd >= 0)
            Libc.Close(fd);
    }
}
