using System.Runtime.InteropServices;

namespace Bridge.Workers;

/// <summary>The libc calls only the worker needs (the shared ones are in <c>Bridge.Transport.Libc</c>).</summary>
internal static partial class WorkerNative
{
    [LibraryImport("libc", EntryPoint = "getppid")]
    public static partial int GetParentPid();

    /// <summary>Ends the process at once (no managed shutdown that user code could block).</summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void Exit(int status);
}
