using System.Buffers;
using System.Diagnostics;
using Bridge.Protocol;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Workers;

/// <summary>
/// The frame loop every worker written in C# shares (PROTOCOL.md): the .NET worker process
/// (<see cref="DotNetWorker"/>) and the interpreter worker a C# program hosts (<see cref="InterpreterWorker"/>).
/// </summary>
/// <remarks>
/// <para>HELLO goes out first (or after INIT: <see cref="HelloAfterInit"/>). INIT and TASK frames go to the subclass; STOP or EOF on the input fd ends the
/// loop with 0; a malformed frame or an unexpected kind: FATAL, <see cref="ExitProtocolError"/>.</para>
/// <para>One thread reads whole frames with blocking reads; replies are buffered and written with one
/// <c>write</c> before the loop blocks on a read again (or once buffered replies took more than 2 ms to
/// compute, or grew past 1 MiB).</para>
/// </remarks>
internal abstract class FrameWorker : IDisposable
{
    /// <summary>Exit code after a malformed frame (EX_DATAERR).</summary>
    public const int ExitProtocolError = 65;

    /// <summary>Exit code when INIT failed (assemblies, initializer).</summary>
    public const int ExitInitFailed = 1;

    /// <summary>Exit code when the fds cannot be read or written (EX_IOERR).</summary>
    public const int ExitIOError = 74;

    private const int FlushBytes = 1 << 20;
    private static readonly long s_flushTicks = Stopwatch.Frequency / 500; // 2 ms

    private readonly int _outFd;
    private readonly FdFrameReader _reader;
    private long _pendingSince;

    protected FrameWorker(int inFd, int outFd)
    {
        _outFd = outFd;
        _reader = new FdFrameReader(inFd);
    }

    /// <summary>The replies not written yet.</summary>
    protected FrameWriter Out { get; } = new(64 * 1024);

    /// <summary>Set by <see cref="RunTask"/> to end the loop with this exit code after the task (whose reply, if it
    /// buffered one, is written first): a task that ended its worker (<c>sys.exit</c> in an interpreter worker).</summary>
    protected int? ExitRequested { get; set; }

    /// <summary>The worker kind HELLO announces (<c>"dotnet"</c>, <c>"python"</c>).</summary>
    protected abstract string HelloKind { get; }

    /// <summary>True: HELLO goes out once INIT succeeded (as the Python worker does, so a pool never sends a task to
    /// a worker whose initializer failed); false: HELLO goes out first (the .NET worker).</summary>
    protected virtual bool HelloAfterInit => false;

    /// <summary>Handles INIT (read and checked by the loop; <see cref="MaxDepth"/> already set from it); a failure
    /// ends the loop with a FATAL frame and the exit code.</summary>
    protected abstract (ErrorMap Map, int ExitCode)? Init(InitConfig config);

    /// <summary>The nesting limit for values (INIT <c>max_depth</c>, else the protocol's).</summary>
    protected int MaxDepth { get; private set; } = ProtocolLimits.MaxDepth;

    /// <summary>The INIT map's keys a C# worker reads (PROTOCOL.md "INIT"); others are skipped.</summary>
    /// <param name="SysPath"><c>sys_path</c> (Python workers).</param>
    /// <param name="Assemblies"><c>assemblies</c> (.NET workers).</param>
    /// <param name="Initializer"><c>initializer</c>, or null.</param>
    /// <param name="InitArgs"><c>initargs</c>: the packed array, or empty.</param>
    /// <param name="MaxDepth"><c>max_depth</c>, clamped to 1..1024, or null.</param>
    protected sealed record InitConfig(List<string> SysPath, List<string> Assemblies, string? Initializer, ReadOnlyMemory<byte> InitArgs, int? MaxDepth);

    /// <summary>Reads the INIT map (<see cref="InitConfig"/>); a malformed one, or one of another protocol version, is
    /// the FATAL of <see cref="ExitProtocolError"/>.</summary>
    private static (InitConfig? Config, ErrorMap? Error) ParseInit(in Frame frame)
    {
        if (frame.Version != ProtocolLimits.Version)
        {
            return (null, WorkerErrors.Plain("Bridge.Protocol.ProtocolException",
                $"INIT speaks protocol version {frame.Version}; this worker speaks {ProtocolLimits.Version}", "args", null));
        }
        var sysPath = new List<string>();
        var assemblies = new List<string>();
        string? initializer = null;
        ReadOnlyMemory<byte> initargs = default;
        int? maxDepth = null;
        try
        {
            var r = new MessagePackReader(frame.Map);
            int n = r.ReadMapHeader();
            for (int i = 0; i < n; i++)
            {
                if (r.NextMessagePackType != MessagePackType.String)
                {
                    r.Skip();
                    r.Skip();
                    continue;
                }
                switch (r.ReadString())
                {
                    case "sys_path" when !r.TryReadNil():
                        ReadStrings(ref r, sysPath, "sys_path");
                        break;
                    case "assemblies" when !r.TryReadNil():
                        ReadStrings(ref r, assemblies, "assemblies");
                        break;
                    case "initializer" when !r.TryReadNil():
                        initializer = r.ReadString();
                        break;
                    case "initargs" when !r.TryReadNil():
                        if (r.NextMessagePackType != MessagePackType.Array)
                        {
                            throw new ProtocolException("INIT initargs must be an array");
                        }
                        initargs = r.ReadRaw().ToArray();
                        break;
                    case "max_depth" when !r.TryReadNil():
                        maxDepth = Math.Clamp(r.ReadInt32(), 1, 1024);
                        break;
                    default:
                        r.Skip();
                        break;
                }
            }
        }
        catch (Exception e) when (e is MessagePackSerializationException or ProtocolException or OverflowException or EndOfStreamException)
        {
            return (null, WorkerErrors.Plain("Bridge.Protocol.ProtocolException", $"malformed INIT config: {e.Message}", "args", null));
        }
        return (new InitConfig(sysPath, assemblies, initializer, initargs, maxDepth), null);

        static void ReadStrings(ref MessagePackReader r, List<string> into, string key)
        {
            int count = r.ReadArrayHeader();
            for (int k = 0; k < count; k++)
            {
                into.Add(r.ReadString() ?? throw new ProtocolException($"INIT {key}: nil entry"));
            }
        }
    }

    /// <summary>Runs one call of a MSGPACK batch: reads its arguments from <paramref name="reader"/> and writes its
    /// result to <paramref name="writer"/>; returns null, or the ERROR map that ends the batch.</summary>
    protected delegate ErrorMap? BatchCall(ref MessagePackReader reader, ref MessagePackWriter writer, int index);

    private ArrayBufferWriter<byte> _results = new(4096);

    /// <summary>The MSGPACK TASK payload (an array of calls) through <paramref name="call"/>, one call after another:
    /// one RESULT with the array of results, or the ERROR of the first call that fails (PROTOCOL.md "TASK").</summary>
    /// <param name="taskId">The task.</param>
    /// <param name="payload">The packed array of calls.</param>
    /// <param name="started">When the task started (<see cref="Stopwatch.GetTimestamp"/>), for RESULT's elapsed time.</param>
    /// <param name="tooBigType">The error type reported when the results exceed a frame.</param>
    /// <param name="name">The target's name, for that message.</param>
    /// <param name="call">Runs one call.</param>
    protected void RunBatch(long taskId, ReadOnlyMemory<byte> payload, long started, string tooBigType, string name, BatchCall call)
    {
        var reader = new MessagePackReader(payload);
        int calls = reader.ReadArrayHeader();
        var results = _results;
        results.ResetWrittenCount();
        var writer = new MessagePackWriter(results);
        writer.WriteArrayHeader(calls);
        for (int i = 0; i < calls; i++)
        {
            if (call(ref reader, ref writer, i) is { } error)
            {
                Out.WriteError(taskId, error);
                return;
            }
        }
        writer.Flush();
        long elapsedUs = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        try
        {
            Out.WriteResult(taskId, TaskEncoding.MsgPack, results.WrittenSpan, elapsedUs);
        }
        catch (ProtocolException e)
        {
            Out.WriteError(taskId, WorkerErrors.Plain(tooBigType, $"{name}: the results cannot be sent: {e.Message}", "result", null));
        }
        if (results.Capacity > 16 << 20)
        {
            _results = new ArrayBufferWriter<byte>(4096); // don't keep a huge buffer after one big result
        }
    }

    /// <summary>Runs one TASK frame and buffers its RESULT or ERROR frame in <see cref="Out"/>.</summary>
    protected abstract void RunTask(Frame frame);

    /// <summary>The frame loop; returns the exit code.</summary>
    public int Serve()
    {
        try
        {
            if (!HelloAfterInit)
            {
                Out.WriteHello(HelloKind, Environment.ProcessId);
                Flush();
            }
            while (true)
            {
                Frame frame;
                try
                {
                    if (!_reader.HasBuffered)
                    {
                        Flush();
                    }
                    if (!_reader.TryRead(out frame))
                    {
                        Flush();
                        return 0; // EOF: the pool is gone or closed our pipe
                    }
                }
                catch (ProtocolException e)
                {
                    return Fatal(WorkerErrors.Plain("Bridge.Protocol.ProtocolException", e.Message, "args", null), ExitProtocolError);
                }
                switch (frame.Kind)
                {
                    case FrameKind.Task:
                        MarkPending();
                        RunTask(frame);
                        if (ExitRequested is { } code)
                        {
                            Flush();
                            return code; // as a process worker that exits in a task: its chunk is CRASHED
                        }
                        break;
                    case FrameKind.Init:
                        var (config, malformed) = ParseInit(frame);
                        if (config is null)
                        {
                            return Fatal(malformed!, ExitProtocolError);
                        }
                        MaxDepth = config.MaxDepth ?? MaxDepth;
                        if (Init(config) is { } failure)
                        {
                            return Fatal(failure.Map, failure.ExitCode);
                        }
                        if (HelloAfterInit)
                        {
                            Out.WriteHello(HelloKind, Environment.ProcessId);
                        }
                        break;
                    case FrameKind.Stop:
                        Flush();
                        return 0;
                    default:
                        return Fatal(WorkerErrors.Plain("Bridge.Protocol.ProtocolException",
                            $"unexpected frame kind {(int)frame.Kind} ({frame.Kind}) sent to a worker", "args", null), ExitProtocolError);
                }
                if (Out.WrittenCount > 0 && (Out.WrittenCount > FlushBytes || Stopwatch.GetTimestamp() - _pendingSince > s_flushTicks))
                {
                    Flush();
                }
            }
        }
        catch (IOException e)
        {
            // The pipes broke (EPIPE: the pool is gone). Nobody is left to tell but stderr, and only if it is odd.
            if (e.HResult != Libc.EPIPE)
            {
                Console.Error.WriteLine($"Bridge worker: {e.Message}");
                return ExitIOError;
            }
            return 0;
        }
    }

    private int Fatal(ErrorMap map, int exitCode)
    {
        try
        {
            Out.WriteFatal(map);
            Flush();
        }
        catch (IOException)
        {
            // The pool is gone: the exit code is all that is left.
        }
        return exitCode;
    }

    private void Flush()
    {
        if (Out.WrittenCount == 0)
        {
            return;
        }
        FdIO.WriteAll(_outFd, Out.WrittenSpan);
        Out.Reset();
    }

    private void MarkPending()
    {
        if (Out.WrittenCount == 0)
        {
            _pendingSince = Stopwatch.GetTimestamp();
        }
    }

    /// <inheritdoc/>
    public virtual void Dispose() => Out.Dispose();
}
