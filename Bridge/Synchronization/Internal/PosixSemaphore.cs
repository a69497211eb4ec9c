using System.Runtime.InteropServices;

namespace Bridge.Internal;

/// <summary>The libc POSIX named semaphore calls (sem_overview(7)); what Python's <c>_multiprocessing.SemLock</c> uses too.</summary>
internal static partial class PosixSemaphore
{
    public const int O_CREAT = 0x40, O_EXCL = 0x80;
    public const int EINTR = 4, EAGAIN = 11, ETIMEDOUT = 110, EEXIST = 17, ENOENT = 2, EOVERFLOW = 75;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    // sem_open is variadic (mode and value follow only with O_CREAT); on the SysV x86-64 and
    // AArch64 Linux ABIs integer varargs travel like fixed arguments.
    [LibraryImport("libc", EntryPoint = "sem_open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint SemOpen(string name, int oflag, uint mode, uint value);

    [LibraryImport("libc", EntryPoint = "sem_open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint SemOpenExisting(string name, int oflag);

    [LibraryImport("libc", EntryPoint = "sem_close", SetLastError = true)]
    public static partial int SemClose(nint sem);

    [LibraryImport("libc", EntryPoint = "sem_unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SemUnlink(string name);

    [LibraryImport("libc", EntryPoint = "sem_wait", SetLastError = true)]
    public static partial int SemWait(nint sem);

    [LibraryImport("libc", EntryPoint = "sem_trywait", SetLastError = true)]
    public static partial int SemTryWait(nint sem);

    [LibraryImport("libc", EntryPoint = "sem_timedwait", SetLastError = true)]
    public static partial int SemTimedWait(nint sem, in Timespec absoluteRealtime);

    [LibraryImport("libc", EntryPoint = "sem_post", SetLastError = true)]
    public static partial int SemPost(nint sem);

    [LibraryImport("libc", EntryPoint = "sem_getvalue", SetLastError = true)]
    public static partial int SemGetValue(nint sem, out int value);

    /// <summary>SEM_FAILED is (sem_t*)-1 on glibc (0 on some other libcs).</summary>
    public static bool Failed(nint sem) => sem == -1 || sem == 0;

    public static IOException Error(string what, string name, int errno) =>
        new($"{what} '{name}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
}
