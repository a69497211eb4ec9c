namespace Bridge;

/// <summary>
/// The entry point of the Bridge executable. Bridge is both a library and an executable; the
/// executable runs subcommands: <c>Bridge worker</c> runs the .NET worker process
/// (see PROTOCOL.md; fd 3 in, fd 4 out); <c>Bridge tracker &lt;pid&gt;</c> runs the resource tracker
/// of a .NET process that created shared memory names (Tracking/ResourceTracker.cs).
/// </summary>
internal static class Program
{
    /// <summary>Runs a subcommand and returns the process exit code.</summary>
    private static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: Bridge worker [in-fd out-fd] | Bridge tracker <creator-pid>");
            return 64;
        }
        switch (args[0])
        {
            case "worker":
                return Workers.DotNetWorker.Run(args.AsSpan(1));
            case "tracker":
                return Tracking.TrackerProcess.Run(args.AsSpan(1));
            default:
                Console.Error.WriteLine($"Bridge: unknown command '{args[0]}' (expected: worker, tracker)");
                return 64;
        }
    }
}
