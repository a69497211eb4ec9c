using System.Buffers;
using Bridge.Internal;
using Bridge.Protocol;
using MessagePack;

namespace Bridge;

// The adapter from Bridge.Internal.PoolCore to PoolBackend (ProcessPool.Backend.cs), and the
// translation of ProcessPoolOptions into PoolCoreOptions.
public sealed partial class ProcessPool
{
    /// <summary>The Python worker package beside Bridge.dll (Bridge.csproj copies python/dotbridge/*.py there).</summary>
    internal static string BundledPythonDirectory => Path.Combine(AppContext.BaseDirectory, "python");

    /// <summary>The default .NET worker: the Bridge apphost beside Bridge.dll.</summary>
    internal static string DefaultDotNetWorker => Path.Combine(AppContext.BaseDirectory, "Bridge");

    /// <summary>Interpreter workers' host, when <see cref="ProcessPoolOptions.PythonWorkers"/> is Interpreters.</summary>
    private readonly Workers.InterpreterWorkerHost? _host;
    private readonly TimeSpan _hostShutdown;

    /// <summary>Loads Python 3.12+ into this process if needed and makes the host of its interpreter workers: each
    /// starts with the main interpreter's <c>sys.path</c> (then <paramref name="appendPath"/>) and <c>sys.executable</c>.</summary>
    /// <exception cref="Bridge.Interop.PythonNotFoundException">Python is not running yet and none was found.</exception>
    /// <exception cref="PlatformNotSupportedException">The Python in this process is older than 3.12.</exception>
    internal static Workers.InterpreterWorkerHost CreateInterpreterHost(Bridge.Interop.PythonOptions? python, IEnumerable<string> appendPath, string? initCode, bool useSpare)
    {
        Bridge.Interop.PythonRuntime.Initialize(python);
        if (!Bridge.Interop.SubInterpreters.SubInterpreter.IsSupported)
        {
            throw new PlatformNotSupportedException(Bridge.Interop.SubInterpreters.SubInterpreter.UnsupportedReason);
        }
        List<string> sysPath;
        string? executable;
        using (Bridge.Interop.Gil.Acquire())
        {
            using var sys = Bridge.Interop.Py.Import("sys");
            executable = sys.GetAttr("executable").As<string>();
            sysPath = sys.GetAttr("path").As<List<string>>();
        }
        sysPath.AddRange(appendPath);
        return new Workers.InterpreterWorkerHost(sysPath, executable, initCode, useSpare);
    }

    private static PoolBackend CreateCore(ProcessPoolOptions options, int processes, string python, Workers.InterpreterWorkerHost? host)
    {
        var env = new Dictionary<string, string>(options.Environment);
        // `python -m dotbridge._worker` must find the worker package: prepend the copy that ships
        // beside Bridge.dll (any python3 with msgpack then works, no install needed).
        if (Directory.Exists(Path.Combine(BundledPythonDirectory, "dotbridge")))
        {
            string? existing = env.TryGetValue("PYTHONPATH", out var fromOptions) ? fromOptions : Environment.GetEnvironmentVariable("PYTHONPATH");
            env["PYTHONPATH"] = string.IsNullOrEmpty(existing) ? BundledPythonDirectory : BundledPythonDirectory + Path.PathSeparator + existing;
        }
        IReadOnlyList<string>? dotnetWorker = null;
        if (options.DotNetWorker.Count > 0)
        {
            dotnetWorker = [.. options.DotNetWorker, "worker"];
        }
        else if (File.Exists(DefaultDotNetWorker))
        {
            dotnetWorker = [DefaultDotNetWorker, "worker"];
        }
        var prestart = new List<WorkerKind>();
        if (options.PrestartPython)
        {
            prestart.Add(WorkerKind.Python);
        }
        if (options.PrestartDotNet)
        {
            prestart.Add(WorkerKind.DotNet);
        }
        var core = new PoolCoreOptions
        {
            Processes = processes,
            Python = python,
            SysPath = options.PythonPath.Select(Path.GetFullPath).ToArray(),
            DotNetWorker = dotnetWorker,
            MaxTasksPerChild = options.MaxTasksPerChild,
            Prestart = prestart,
            Env = env,
            Initializer = options.Initializer?.Name,
            InitArgs = options.Initializer is null ? null : PackArray(options.InitArgs),
            PythonHost = host,
        };
        return new PoolCoreBackend(new PoolCore(core));
    }

    private static byte[] PackArray(IList<object?> values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(values.Count);
        foreach (var value in values)
        {
            MsgPackValues.Write(ref writer, value);
        }
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static ObjectDisposedException CoreGone() =>
        new(nameof(ProcessPool), "The pool was disposed while this call was in flight; its workers were terminated.");

    /// <summary>PoolBackend over the real core.</summary>
    private sealed class PoolCoreBackend(PoolCore core) : PoolBackend
    {
        public override PoolJob Submit(TargetKind kind, string target, IReadOnlyList<(byte[] Payload, int Count)> chunks, bool failfast, bool ordered)
        {
            var workerKind = kind == TargetKind.Python ? WorkerKind.Python : WorkerKind.DotNet;
            long id;
            try
            {
                if (chunks.Count == 1)
                {
                    id = core.SubmitOne(workerKind, TaskEncoding.MsgPack, target, chunks[0].Payload, chunks[0].Count, failfast);
                }
                else
                {
                    var list = new (ReadOnlyMemory<byte>, int)[chunks.Count];
                    for (int i = 0; i < list.Length; i++)
                    {
                        list[i] = (chunks[i].Payload, chunks[i].Count);
                    }
                    id = core.Submit(workerKind, TaskEncoding.MsgPack, target, list, failfast, notify: false, ordered);
                }
            }
            catch (InvalidOperationException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
            return new CoreJobHandle(core, id, failfast);
        }

        public override PoolJob Open(TargetKind kind, string target, bool ordered)
        {
            var workerKind = kind == TargetKind.Python ? WorkerKind.Python : WorkerKind.DotNet;
            try
            {
                return new CoreJobHandle(core, core.OpenJob(workerKind, TaskEncoding.MsgPack, target, ordered), failfast: false);
            }
            catch (InvalidOperationException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
        }

        public override int Chunksize(int items) => core.Chunksize(items);

        public override void Dispose() => core.Dispose();
    }

    /// <summary>One job of the real core.</summary>
    private sealed class CoreJobHandle(PoolCore core, long id, bool failfast) : PoolJob
    {
        private int _abandoned;

        public override bool FailFast => failfast;

        public override Task WhenReady
        {
            get
            {
                try
                {
                    return core.WhenReady(id);
                }
                catch (ArgumentException) when (core.State >= PoolState.Terminated)
                {
                    return Task.FromException(CoreGone());
                }
            }
        }

        public override void AddChunk(byte[] payload, int count)
        {
            try
            {
                core.AddChunk(id, payload, count);
            }
            catch (ArgumentException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
            catch (InvalidOperationException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
        }

        public override void Seal()
        {
            try
            {
                core.Seal(id);
            }
            catch (ArgumentException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
        }

        public override bool Wait(TimeSpan? timeout)
        {
            try
            {
                return core.Wait(id, timeout);
            }
            catch (ArgumentException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
        }

        public override IReadOnlyList<(int Status, ReadOnlyMemory<byte> Payload)> Results()
        {
            try
            {
                return core.Results(id);
            }
            catch (ArgumentException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
        }

        public override async ValueTask<(int Index, int Status, ReadOnlyMemory<byte> Payload)?> NextAsync(CancellationToken cancellationToken)
        {
            ChunkResult? next;
            try
            {
                next = await core.NextAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException) when (core.State >= PoolState.Terminated)
            {
                throw CoreGone();
            }
            return next is { } r ? (r.Index, r.Status, r.Payload) : null;
        }

        public override void Abandon()
        {
            if (Interlocked.Exchange(ref _abandoned, 1) == 0)
            {
                core.Release(id);
            }
        }
    }
}
