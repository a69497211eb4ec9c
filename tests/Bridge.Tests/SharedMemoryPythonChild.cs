using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Bridge.Tests;

/// <summary>
/// A Python child process driven line by line (stdin/stdout) for the cross-language shared memory and
/// lock tests. Every read has a timeout; Dispose kills the child.
/// </summary>
internal sealed class SharedMemoryPythonChild : IDisposable
{
    private static readonly TimeSpan s_lineTimeout = TimeSpan.FromSeconds(30);
    private readonly Process _process;

    private SharedMemoryPythonChild(Process process) => _process = process;

    /// <summary>The Python to use: $DOTBRIDGE_PYTHON, else the repo's .venv, else null.</summary>
    public static string? FindPython()
    {
        var env = Environment.GetEnvironmentVariable("DOTBRIDGE_PYTHON");
        if (!string.IsNullOrEmpty(env) && File.Exists(env))
        {
            return env;
        }
        foreach (var dir in SearchRoots())
        {
            var candidate = Path.Combine(dir.FullName, ".venv", "bin", "python");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : null;
    }

    /// <summary>The repo's python/ folder (so the child imports this checkout's dotbridge), or null.</summary>
    public static string? FindPythonSource()
    {
        foreach (var dir in SearchRoots())
        {
            var candidate = Path.Combine(dir.FullName, "python", "dotbridge");
            if (Directory.Exists(candidate))
            {
                return Path.Combine(dir.FullName, "python");
            }
        }
        return null;
    }

    // The test binaries may sit outside the repo (--artifacts-path): look up from this source file too.
    private static IEnumerable<DirectoryInfo> SearchRoots([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { TestContext.CurrentContext.TestDirectory, Path.GetDirectoryName(sourceFile) ?? "" })
        {
            for (var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                yield return dir;
            }
        }
    }

    /// <summary>Starts <paramref name="script"/> (or marks the test inconclusive when no Python is found).</summary>
    public static SharedMemoryPythonChild Start(string script)
    {
        var python = FindPython();
        if (python is null)
        {
            Assert.Ignore("no Python found (set DOTBRIDGE_PYTHON)");
        }
        var psi = new ProcessStartInfo(python!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        var src = FindPythonSource();
        if (src is not null)
        {
            psi.Environment["PYTHONPATH"] = src;
        }
        return new SharedMemoryPythonChild(Process.Start(psi)!);
    }

    /// <summary>The next line the child prints (fails the test on timeout or EOF).</summary>
    public string ReadLine()
    {
        var task = _process.StandardOutput.ReadLineAsync();
        if (!task.Wait(s_lineTimeout))
        {
            Assert.Fail("Python child printed nothing for 30 s");
        }
        var line = task.Result;
        if (line is null)
        {
            Assert.Fail("Python child exited early: " + _process.StandardError.ReadToEnd());
        }
        return line!;
    }

    /// <summary>Sends one line to the child.</summary>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Waits for the child to exit and returns its exit code (with stderr on failure).</summary>
    public (int ExitCode, string Stderr) WaitForExit()
    {
        if (!_process.WaitForExit(30_000))
        {
            _process.Kill(true);
            Assert.Fail("Python child did not exit within 30 s");
        }
        return (_process.ExitCode, _process.StandardError.ReadToEnd());
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(true);
            _process.WaitForExit(5_000);
        }
        _process.Dispose();
    }
}
