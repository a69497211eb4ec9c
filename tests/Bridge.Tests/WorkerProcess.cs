using System.Runtime.CompilerServices;
using Bridge.Protocol;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Tests;

/// <summary>
/// Test double of the pool's side of one .NET worker: spawns <c>dotnet Bridge.dll worker</c> with
/// the task pipe on fd 3 and the result pipe on fd 4 (the pool's <see cref="Spawner"/>), sends
/// frames and reads replies, every wait bounded.
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private readonly FdFrameReader _reader;
    private int _taskFd;
    private int _resultFd;
    private int? _exitCode;

    private WorkerProcess(SpawnedProcess spawned)
    {
        Pid = spawned.Pid;
        _taskFd = spawned.TaskFd;
        _resultFd = spawned.ResultFd;
        _reader = new FdFrameReader(_resultFd);
    }

    /// <summary>How long a test waits for one frame or an exit.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>The worker's pid.</summary>
    public int Pid { get; }

    /// <summary>Bridge.dll next to the test assembly (Bridge.Tests references Bridge).</summary>
    public static string BridgeDll => Path.Combine(AppContext.BaseDirectory, "Bridge.dll");

    /// <summary>The dotnet host running the tests (falls back to <c>dotnet</c> on PATH).</summary>
    public static string DotNetHost =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>The repository root (from this file's path at compile time).</summary>
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>Starts a worker (<paramref name="argv"/> replaces the command line when given).</summary>
    public static WorkerProcess Start(IReadOnlyList<string>? argv = null, IEnumerable<KeyValuePair<string, string>>? env = null) =>
        new(Spawner.Spawn(argv ?? [DotNetHost, BridgeDll, "worker"], env));

    /// <summary>Starts a worker and reads its HELLO.</summary>
    public static WorkerProcess StartReady()
    {
        var worker = Start();
        var hello = worker.Receive();
        Assert.That(hello.Kind, Is.EqualTo(FrameKind.Hello));
        return worker;
    }

    /// <summary>Writes frames built with a <see cref="FrameWriter"/>.</summary>
    public void Send(Action<FrameWriter> build)
    {
        using var w = new FrameWriter();
        build(w);
        SendRaw(w.WrittenSpan);
    }

    /// <summary>Writes raw bytes to the worker's fd 3.</summary>
    public void SendRaw(ReadOnlySpan<byte> bytes) => FdIO.WriteAll(_taskFd, bytes);

    /// <summary>Sends INIT with a config map built by <paramref name="config"/> (keys and values).</summary>
    public void SendInit(Dictionary<string, object?> config)
    {
        var map = new Dictionary<object, object?>();
        foreach (var kv in config)
        {
            map[kv.Key] = kv.Value;
        }
        var raw = MsgPackValues.Serialize(map);
        Send(w => w.WriteInit(raw));
    }

    /// <summary>Sends a MSGPACK TASK: <paramref name="calls"/> are the per-call argument arrays.</summary>
    public void SendTask(long id, string? target, object?[][] calls) =>
        Send(w => w.WriteTask(id, TaskEncoding.MsgPack, target, MsgPackValues.Serialize(calls)));

    /// <summary>Reads the next frame (its raw slices are copied, so it stays valid).</summary>
    /// <exception cref="TimeoutException">No frame within <see cref="Timeout"/>.</exception>
    /// <exception cref="EndOfStreamException">The worker closed fd 4.</exception>
    public Frame Receive()
    {
        if (!_reader.HasBuffered && !FdIO.WaitFd(_resultFd, Libc.POLLIN, (int)Timeout.TotalMilliseconds))
        {
            throw new TimeoutException($"no frame from worker {Pid} within {Timeout}");
        }
        if (!_reader.TryRead(out var frame))
        {
            throw new EndOfStreamException($"worker {Pid} closed its result pipe");
        }
        return frame with
        {
            Payload = frame.Payload.ToArray(),
            Map = frame.Map.ToArray(),
            Pickled = frame.Pickled.ToArray(),
        };
    }

    /// <summary>Sends a TASK of one call with <paramref name="args"/> and returns its one result.</summary>
    public object? Call1(string target, object?[] args) => Call(target, [args])[0];

    /// <summary>Sends a TASK of one call with <paramref name="args"/> that must fail, and returns its error map.</summary>
    public ErrorMap CallError1(string target, object?[] args) => CallError(target, [args]);

    /// <summary>Sends one TASK (a batch of calls: one argument array each) and returns the decoded results of its RESULT.</summary>
    public object?[] Call(string target, object?[][] calls)
    {
        SendTask(1, target, calls);
        var frame = Receive();
        if (frame.Kind == FrameKind.Error)
        {
            var e = ErrorMap.Parse(frame.Map);
            Assert.Fail($"expected a RESULT, got ERROR {e.Kind} {e.Type}: {e.Message}");
        }
        Assert.That(frame.Kind, Is.EqualTo(FrameKind.Result));
        return (object?[])MsgPackValues.DeserializeObject(frame.Payload)!;
    }

    /// <summary>Sends one TASK that must fail and returns its error map.</summary>
    public ErrorMap CallError(string target, object?[][] calls)
    {
        SendTask(1, target, calls);
        var frame = Receive();
        Assert.That(frame.Kind, Is.EqualTo(FrameKind.Error), () => $"expected ERROR, got {frame.Kind}");
        Assert.That(frame.TaskId, Is.EqualTo(1));
        return ErrorMap.Parse(frame.Map);
    }

    /// <summary>Closes the task pipe (the worker sees EOF on fd 3).</summary>
    public void CloseTaskPipe()
    {
        FdIO.CloseQuietly(_taskFd);
        _taskFd = -1;
    }

    /// <summary>Waits for the worker to exit and returns its exit code (negative: killed by that signal).</summary>
    /// <exception cref="TimeoutException">It still runs after <see cref="Timeout"/>.</exception>
    public int WaitForExit()
    {
        if (_exitCode is { } known)
        {
            return known;
        }
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Spawner.TryWaitExit(Pid, out var code))
            {
                _exitCode = code ?? int.MinValue;
                return _exitCode.Value;
            }
            Thread.Sleep(10);
        }
        throw new TimeoutException($"worker {Pid} did not exit within {Timeout}");
    }

    /// <summary>Closes the pipes; kills and reaps the worker if it still runs.</summary>
    public void Dispose()
    {
        FdIO.CloseQuietly(_taskFd);
        FdIO.CloseQuietly(_resultFd);
        _taskFd = _resultFd = -1;
        if (_exitCode is null && !Spawner.TryWaitExit(Pid, out _))
        {
            Libc.Kill(Pid, Libc.SIGKILL);
            Spawner.WaitExit(Pid);
        }
    }

    /// <summary>Whether a process with this pid exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string FindRoot([CallerFilePath] string source = "")
    {
        var dir = Path.GetDirectoryName(source);
        while (dir is not null && !File.Exists(Path.Combine(dir, "Bridge.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }
        return dir ?? throw new InvalidOperationException($"no Bridge.sln above {source}");
    }

    /// <summary>Reads one MessagePack value from raw bytes as an untyped graph.</summary>
    public static object? Decode(ReadOnlyMemory<byte> raw)
    {
        var reader = new MessagePackReader(raw);
        return MsgPackValues.ReadObject(ref reader);
    }
}
