using System.Diagnostics;
using Bridge.Interop.SubInterpreters;
using Bridge.Protocol;
using MessagePack;

namespace Bridge.Workers;

/// <summary>
/// An interpreter worker hosted by a C# program: the pool's Python worker, speaking the same frames over the
/// same two pipes, run by this loop on its own thread against one sub-interpreter (<see cref="SubInterpreter"/>,
/// own GIL) instead of by <c>python -m dotbridge._worker</c> in a process (PROTOCOL.md, ABI.md "Interpreter workers").
/// </summary>
/// <remarks>
/// <para>Design notes: a C# caller sends MSGPACK tasks (encoding 1) only, so no pickle is involved: each call's
/// arguments are decoded to the plain value model (<see cref="MsgPackValues.ReadObject"/>), rebuilt as objects
/// of the sub-interpreter, and the result comes back the same way (<see cref="SubInterpreter.Call"/>). The error
/// maps are the ones the sub-interpreter's bootstrap builds from the raised exception (type, message, traceback,
/// cause chain, kind), which are the wire protocol's ERROR maps. HELLO says <c>"python"</c>: for the pool this is a
/// Python worker like any other.</para>
/// <para>A task that calls <c>sys.exit(n)</c> ends the worker with exit code n and no reply, as it ends a process
/// worker: its call fails with <see cref="WorkerCrashedException"/> and the pool starts a fresh interpreter.</para>
/// <para>INIT: <c>sys_path</c> is prepended to the interpreter's <c>sys.path</c> (as a process worker does);
/// a Python <c>initializer</c> (<c>module:qualname</c>) is called with <c>initargs</c>; if it raises: FATAL, exit 1.</para>
/// </remarks>
/// <param name="inFd">The task pipe's read end.</param>
/// <param name="outFd">The result pipe's write end.</param>
/// <param name="interpreter">The worker's sub-interpreter (used on this thread only).</param>
/// <param name="initCode">Python statements run in <c>__main__</c> after INIT, or null.</param>
/// <param name="initialized">Told once INIT is done: null, or the error map of what failed.</param>
internal sealed class InterpreterWorker(int inFd, int outFd, SubInterpreter interpreter, string? initCode, Action<object?>? initialized)
    : FrameWorker(inFd, outFd)
{

    /// <inheritdoc/>
    protected override string HelloKind => "python";

    /// <inheritdoc/>
    protected override bool HelloAfterInit => true;

    /// <inheritdoc/>
    protected override (ErrorMap Map, int ExitCode)? Init(InitConfig config)
    {
        var sysPath = config.SysPath;
        object?[] initargs;
        try
        {
            initargs = config.InitArgs.IsEmpty ? [] : MsgPackValues.DeserializeObject(config.InitArgs) as object?[] ?? [];
        }
        catch (ValueConversionException e)
        {
            return (WorkerErrors.Plain("Bridge.Protocol.ProtocolException", $"malformed INIT initargs: {e.Message}", "args", null), ExitProtocolError);
        }
        object? error = null;
        bool raised = false;
        for (int i = sysPath.Count - 1; i >= 0 && !raised; i--)
        {
            error = interpreter.Call("sys:path.insert", [0L, sysPath[i]], out raised);
        }
        if (!raised && config.Initializer is { } initializer)
        {
            error = interpreter.Call(initializer, initargs, out raised);
        }
        if (!raised && initCode is not null)
        {
            error = interpreter.Exec(initCode, out raised);
        }
        initialized?.Invoke(raised ? error : null);
        return raised ? (ToErrorMap(error, null, 0), ExitInitFailed) : null;
    }

    /// <inheritdoc/>
    protected override void RunTask(Frame frame)
    {
        long start = Stopwatch.GetTimestamp();
        long id = frame.TaskId;
        if (frame.Encoding != TaskEncoding.MsgPack)
        {
            Out.WriteError(id, WorkerErrors.Plain("builtins.NotImplementedError",
                "an interpreter worker hosted by a .NET program runs MSGPACK tasks (encoding 1) only, not PICKLE", "target", null));
            return;
        }
        if (frame.Target is not { } target || !target.Contains(':'))
        {
            Out.WriteError(id, WorkerErrors.Plain("builtins.ValueError",
                $"an interpreter worker runs Python callables 'module:qualname', not '{frame.Target}'", "target", null));
            return;
        }
        try
        {
            RunBatch(id, frame.Payload, start, "builtins.ValueError", target, Call);
        }
        catch (WorkerExit exit)
        {
            ExitRequested = exit.Code; // no reply: the pool sees this worker end while running the task
        }

        ErrorMap? Call(ref MessagePackReader reader, ref MessagePackWriter writer, int i)
        {
            object?[] args;
            try
            {
                args = MsgPackValues.ReadObject(ref reader, MaxDepth) as object?[]
                    ?? throw new ValueConversionException($"call {i} is not an array of arguments");
            }
            catch (Exception e) when (e is ValueConversionException or MessagePackSerializationException or EndOfStreamException)
            {
                return WorkerErrors.Plain("builtins.TypeError", $"{target}: call {i}: {e.Message}", "args", i);
            }
            object? value = interpreter.Call(target, args, out bool raised);
            if (raised)
            {
                var error = ToErrorMap(value, i, 0);
                if (error is { Type: "builtins.SystemExit", Kind: "raised" })
                {
                    // sys.exit() in a task ends a process worker (its task CRASHED, the worker replaced): the same here.
                    throw new WorkerExit(int.TryParse(error.Message, out int code) ? code : error.Message.Length == 0 ? 0 : 1);
                }
                return error;
            }
            try
            {
                MsgPackValues.Write(ref writer, value, MaxDepth);
            }
            catch (ValueConversionException e)
            {
                return WorkerErrors.Plain("builtins.TypeError", $"{target}: the result cannot be sent: {e.Message}", "result", i);
            }
            return null;
        }
    }

    /// <summary>A task called <c>sys.exit</c>: the worker ends with <see cref="Code"/>.</summary>
    private sealed class WorkerExit(int code) : Exception
    {
        public int Code { get; } = code;
    }

    /// <summary>The sub-interpreter's error dictionary (<see cref="SubInterpreter.Call"/>) as an ERROR map.</summary>
    internal static ErrorMap ToErrorMap(object? value, int? index, int depth)
    {
        var map = value as Dictionary<object, object?>;
        string Text(string key) => map is not null && map.TryGetValue(key, out var v) && v is string s ? s : "";
        return new ErrorMap
        {
            Type = map is null ? "builtins.SystemError" : Text("type"),
            Message = map is null ? "the interpreter worker's call failed without an error" : Text("message"),
            Traceback = Text("traceback"),
            Kind = map is not null && map.TryGetValue("kind", out var k) && k is string kind ? kind : "raised",
            Index = index,
            Cause = depth < 16 && map is not null && map.TryGetValue("cause", out var c) && c is Dictionary<object, object?>
                ? ToErrorMap(c, null, depth + 1) : null,
        };
    }
}
