using System.Buffers;
using System.Diagnostics;
using Bridge.Protocol;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Workers;

/// <summary>
/// The .NET worker process (<c>Bridge worker</c>): runs public static C# methods for the pool.
/// </summary>
/// <remarks>
/// <para>Design notes:</para>
/// <list type="bullet">
/// <item>Frames (PROTOCOL.md) come in on fd 3 and go out on fd 4 (<c>DOTBRIDGE_FDS=in,out</c> or
/// <c>Bridge worker IN OUT</c> override). stdout and stderr stay the user's: nothing here writes to them
/// except a last-resort message on stderr.</item>
/// <item>HELLO goes out first. INIT loads <c>assemblies</c> and runs the msgpack-mode
/// <c>initializer</c>; if either fails: FATAL, exit 1. TASK (encoding 1): every call of the batch is
/// bound (<see cref="MethodTarget"/>), invoked, and its result encoded (<see cref="MsgPackValues"/>);
/// one RESULT, or one ERROR at the first failing call (kinds <c>target</c>, <c>args</c>,
/// <c>raised</c>, <c>result</c>, with its <c>index</c>). The loop itself (STOP, EOF, malformed
/// frames, buffered replies) is <see cref="FrameWorker"/>'s.</item>
/// <item>A watchdog thread polls <c>getppid()</c> every 250 ms and ends the process with code 70
/// when the parent changed (the pool's process died).</item>
/// </list>
/// </remarks>
internal sealed class DotNetWorker : FrameWorker
{
    /// <summary>Exit code of the watchdog when the parent died.</summary>
    public const int ExitOrphaned = 70;

    private readonly TargetResolver _resolver;

    public DotNetWorker(int inFd, int outFd, string? baseDirectory = null)
        : base(inFd, outFd)
    {
        _resolver = new TargetResolver(baseDirectory);
    }

    /// <inheritdoc/>
    protected override string HelloKind => "dotnet";

    /// <summary>Runs the worker: <c>args</c> are what follows <c>worker</c> on the command line (optionally the in and out fds).</summary>
    /// <returns>The process exit code.</returns>
    public static int Run(ReadOnlySpan<string> args)
    {
        int inFd = 3, outFd = 4;
        var env = Environment.GetEnvironmentVariable("DOTBRIDGE_FDS");
        if (!string.IsNullOrEmpty(env))
        {
            var parts = env.Split(',');
            if (parts.Length != 2 || !int.TryParse(parts[0], out inFd) || !int.TryParse(parts[1], out outFd))
            {
                Console.Error.WriteLine($"Bridge worker: bad DOTBRIDGE_FDS='{env}' (expected 'in,out')");
                return 64;
            }
        }
        if (args.Length == 2)
        {
            if (!int.TryParse(args[0], out inFd) || !int.TryParse(args[1], out outFd))
            {
                Console.Error.WriteLine("usage: Bridge worker [in-fd out-fd]");
                return 64;
            }
        }
        else if (args.Length != 0)
        {
            Console.Error.WriteLine("usage: Bridge worker [in-fd out-fd]");
            return 64;
        }
        StartWatchdog();
        using var worker = new DotNetWorker(inFd, outFd);
        return worker.Serve();
    }

    // ---- INIT ----------------------------------------------------------------------------------

    /// <inheritdoc/>
    protected override (ErrorMap Map, int ExitCode)? Init(InitConfig config)
    {
        try
        {
            foreach (var path in config.Assemblies)
            {
                _resolver.LoadAssembly(path);
            }
            if (config.Initializer is { } initializer)
            {
                var target = _resolver.Resolve(initializer);
                var r = new MessagePackReader(config.InitArgs.IsEmpty ? new byte[] { 0x90 } : config.InitArgs);
                int count = r.ReadArrayHeader();
                var (overload, args) = target.Bind(ref r, count, MaxDepth);
                try
                {
                    overload.Invoke(args);
                }
                catch (Exception e)
                {
                    // The initializer raised: reported as FATAL (the worker kind is broken).
                    return (WorkerErrors.Raised(e, null), ExitInitFailed);
                }
            }
        }
        catch (TargetNotFoundException e)
        {
            return (WorkerErrors.Plain(e.DotNetType, e.Message, "target", null), ExitInitFailed);
        }
        catch (ArgumentBindingException e)
        {
            return (WorkerErrors.Plain(e.DotNetType, "initializer " + e.Message, "args", null), ExitInitFailed);
        }
        catch (Exception e)
        {
            // Loading an assembly or preparing the initializer failed in an unforeseen way: FATAL.
            e = WorkerErrors.Unwrap(e);
            return (WorkerErrors.Plain(e.GetType().FullName ?? "System.Exception", $"INIT failed: {e.Message}", "target", null), ExitInitFailed);
        }
        return null;
    }

    // ---- TASK ----------------------------------------------------------------------------------

    /// <inheritdoc/>
    protected override void RunTask(Frame frame)
    {
        using var shmScope = Bridge.Internal.ShmCallScope.Begin(); // shm hook: unmap ext 3 arguments after the task
        long start = Stopwatch.GetTimestamp();
        long id = frame.TaskId;
        if (frame.Encoding != TaskEncoding.MsgPack)
        {
            Out.WriteError(id, WorkerErrors.Plain("System.NotSupportedException",
                "a .NET worker runs MSGPACK tasks (encoding 1) only, not PICKLE", "target", null));
            return;
        }
        if (frame.Target is null)
        {
            Out.WriteError(id, WorkerErrors.Plain("System.MissingMethodException",
                "a MSGPACK task for a .NET worker needs a target 'Namespace.Type.Method'", "target", null));
            return;
        }
        MethodTarget target;
        try
        {
            target = _resolver.Resolve(frame.Target);
        }
        catch (TargetNotFoundException e)
        {
            Out.WriteError(id, WorkerErrors.Plain(e.DotNetType, e.Message, "target", null));
            return;
        }
        catch (Exception e)
        {
            // Loading the assembly or preparing the method failed in an unforeseen way (a type
            // initializer, a bad image): the task's ERROR frame, kind "target"; the worker goes on.
            e = WorkerErrors.Unwrap(e);
            Out.WriteError(id, WorkerErrors.Plain(e.GetType().FullName ?? "System.Exception",
                $"cannot prepare {frame.Target}: {e.Message}", "target", null));
            return;
        }
        RunBatch(id, frame.Payload, start, "Bridge.ValueConversionException", target.Name, (ref MessagePackReader reader, ref MessagePackWriter writer, int i) =>
        {
            if (reader.NextMessagePackType != MessagePackType.Array)
            {
                return WorkerErrors.Plain("Bridge.ValueConversionException",
                    $"{target.Name}: call {i} is a {MsgPackValues.DescribeNext(reader)}, not an array of arguments", "args", i);
            }
            int count = reader.ReadArrayHeader();
            MethodOverload overload;
            object?[] args;
            try
            {
                (overload, args) = target.Bind(ref reader, count, MaxDepth);
            }
            catch (ArgumentBindingException e)
            {
                return WorkerErrors.Plain(e.DotNetType, e.Message, "args", i);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A converter failed in an unforeseen way (an enum or tuple constructor, say): the
                // call's arguments could not be made, so the task's ERROR frame has kind "args".
                return WorkerErrors.Plain(e.GetType().FullName ?? "System.Exception",
                    $"{target.Name}: call {i}: the arguments could not be converted: {e.Message}", "args", i);
            }
            object? result;
            try
            {
                result = overload.Invoke(args);
            }
            catch (Exception e)
            {
                // Whatever the method threw becomes the task's ERROR frame (kind "raised"); the worker goes on.
                return WorkerErrors.Raised(e, i);
            }
            try
            {
                MsgPackValues.Write(ref writer, result, MaxDepth);
            }
            catch (ValueConversionException e)
            {
                return WorkerErrors.Plain("Bridge.ValueConversionException",
                    $"{overload.Signature}: the result cannot be sent: {e.Message}", "result", i);
            }
            catch (Exception e)
            {
                // The result's own code threw while it was encoded (a lazy IEnumerable, say): that is
                // the method's failure, reported as the task's ERROR frame with kind "raised".
                return WorkerErrors.Raised(e, i);
            }
            return null;
        });
    }

    // ---- watchdog ------------------------------------------------------------------------------

    private static void StartWatchdog()
    {
        int parent = WorkerNative.GetParentPid();
        using (ExecutionContext.SuppressFlow())
        {
            var thread = new Thread(() =>
            {
                while (true)
                {
                    Thread.Sleep(250);
                    if (WorkerNative.GetParentPid() != parent)
                    {
                        WorkerNative.Exit(ExitOrphaned);
                    }
                }
            })
            {
                IsBackground = true,
                Name = "dotbridge-watchdog",
            };
            thread.Start();
        }
    }
}
