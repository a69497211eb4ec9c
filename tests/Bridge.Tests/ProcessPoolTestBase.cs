using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Bridge.Tests;

/// <summary>
/// Base of the ProcessPool tests: a per-test timeout token (no await is unbounded), the repository
/// paths, and pools wired to a Python with msgpack (the repo's <c>.venv</c>, else env
/// <c>DOTBRIDGE_PYTHON</c>; the test is skipped with a message when neither exists).
/// </summary>
public abstract class ProcessPoolTestBase
{
    /// <summary>How long one test may wait in total (infinite under a debugger).</summary>
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);

    private CancellationTokenSource? _timeout;

    /// <summary>Cancelled when the test has run for <see cref="TestTimeout"/>.</summary>
    protected CancellationToken Timeout => _timeout!.Token;

    /// <summary>The repository root (found from this source file's path at compile time).</summary>
    protected static string RepoRoot { get; } = FindRoot();

    /// <summary><c>tests/python</c>: holds the <c>fixtures</c> package the tests call (<c>"fixtures.calc:add"</c>).</summary>
    protected static string FixturesPath => Path.Combine(RepoRoot, "tests", "python");

    [SetUp]
    public void StartTimeout()
    {
        _timeout = Debugger.IsAttached ? new CancellationTokenSource() : new CancellationTokenSource(TestTimeout);
    }

    [TearDown]
    public void StopTimeout()
    {
        _timeout?.Dispose();
        _timeout = null;
    }

    /// <summary>The Python to run workers with, or null.</summary>
    protected static string? FindPython()
    {
        string venv = Path.Combine(RepoRoot, ".venv", "bin", "python");
        if (File.Exists(venv))
        {
            return venv;
        }
        string? env = Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON");
        return string.IsNullOrEmpty(env) ? null : env;
    }

    /// <summary>Options for a test pool: a Python with msgpack, the fixtures on the path. Skips the test when there is no such Python.</summary>
    protected static ProcessPoolOptions PoolOptions(int processes = 2)
    {
        string? python = FindPython();
        if (python is null)
        {
            Assert.Ignore("No Python with msgpack: run scripts/setup (creates .venv) or set DOTBRIDGE_PYTHON.");
        }
        var options = new ProcessPoolOptions { Processes = processes, PythonExecutable = python };
        options.PythonPath.Add(FixturesPath);
        return options;
    }

    /// <summary>A new pool with <see cref="PoolOptions"/>.</summary>
    protected static ProcessPool CreatePool(int processes = 2, Action<ProcessPoolOptions>? configure = null)
    {
        var options = PoolOptions(processes);
        configure?.Invoke(options);
        return new ProcessPool(options);
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test if it takes longer than the test's timeout.</summary>
    protected async Task<T> Bounded<T>(Task<T> task) => await task.WaitAsync(Timeout).ConfigureAwait(false);

    /// <summary>Awaits <paramref name="task"/>, failing the test if it takes longer than the test's timeout.</summary>
    protected async Task Bounded(Task task) => await task.WaitAsync(Timeout).ConfigureAwait(false);

    /// <summary>Collects an async sequence, bounded by the test's timeout.</summary>
    protected async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items.WithCancellation(Timeout).ConfigureAwait(false))
        {
            list.Add(item);
        }
        return list;
    }

    private static string FindRoot([CallerFilePath] string here = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(here)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Bridge.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException($"no Bridge.sln above {here}");
    }
}
