using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Bridge.Connections.Internal;

/// <summary>poll(2) for readability of one file descriptor (a pipe end), retried on EINTR with the time left.</summary>
internal static class FdPoll
{
    private const int EINTR = 4;

    /// <summary>True if <paramref name="fd"/> has data (or end of file) within <paramref name="milliseconds"/> (-1: for ever; 0: now).</summary>
    /// <exception cref="IOException">poll failed.</exception>
    public static bool Readable(int fd, int milliseconds)
    {
        var fds = new PollFd { Fd = fd, Events = 1 /* POLLIN */ };
        long start = Stopwatch.GetTimestamp();
        int left = milliseconds;
        while (true)
        {
            int n = poll(ref fds, 1, left);
            if (n >= 0)
            {
                return n > 0;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR)
            {
                throw new IOException($"poll failed: errno {errno}");
            }
            if (milliseconds > 0)
            {
                left = Math.Max(0, milliseconds - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }
    }

    /// <summary>A <see cref="TimeSpan"/>? timeout as poll's milliseconds: null or infinite → -1, negative → 0, rounded up.</summary>
    public static int Milliseconds(TimeSpan? timeout) =>
        timeout is not { } t || t == Timeout.InfiniteTimeSpan ? -1
        : t <= TimeSpan.Zero ? 0
        : (int)Math.Min(int.MaxValue, Math.Ceiling(t.TotalMilliseconds));

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int poll(ref PollFd fds, nuint nfds, int timeout);
}
