using System.Diagnostics;
using System.Text.Json;

namespace Bridge.Interop;

/// <summary>Finds a shared libpython to embed.</summary>
/// <remarks>
/// Order: <see cref="PythonOptions.LibraryPath"/>, then <c>PYTHONNET_PYDLL</c> (a libpython path, as pythonnet
/// reads it), then an executable: <see cref="PythonOptions.Executable"/>, <c>DOTBRIDGE_PYTHON</c>, <c>python3</c>
/// on PATH, <c>/usr/bin/python3</c>. An executable is asked for <c>sysconfig</c>'s LIBDIR/INSTSONAME/LDLIBRARY and
/// its <c>sys.prefix</c>/<c>sys.base_prefix</c>/<c>sys.path</c>; the first candidate library that exists wins.
/// When a library is given explicitly and an executable too, the executable is still probed for its paths.
/// Thread-safe (no shared state).
/// </remarks>
public static class PythonLocator
{
    /// <summary>Environment variable naming a libpython shared library (pythonnet's name).</summary>
    public const string PyDllVariable = "PYTHONNET_PYDLL";

    /// <summary>Environment variable naming a Python executable to embed (possibly in a venv).</summary>
    public const string PythonVariable = "DOTBRIDGE_PYTHON";

    private const string ProbeScript =
        "import sys, sysconfig, json\n" +
        "v = sysconfig.get_config_var\n" +
        "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], 'executable': sys.executable," +
        " 'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'path': [p for p in sys.path if p]," +
        " 'LIBDIR': v('LIBDIR'), 'INSTSONAME': v('INSTSONAME'), 'LDLIBRARY': v('LDLIBRARY')," +
        " 'MULTIARCH': v('MULTIARCH'), 'LIBPL': v('LIBPL')}))\n";

    /// <summary>Finds a libpython according to <paramref name="options"/> and the environment.</summary>
    /// <exception cref="PythonNotFoundException">No shared libpython was found; the message lists every attempt.</exception>
    public static PythonLocation Locate(PythonOptions? options = null)
        => Locate(options ?? new PythonOptions(), Environment.GetEnvironmentVariable);

    internal static PythonLocation Locate(PythonOptions options, Func<string, string?> getEnv)
    {
        var tried = new List<string>();
        string? explicitLib = null, libSource = null;
        if (!string.IsNullOrEmpty(options.LibraryPath)) (explicitLib, libSource) = (options.LibraryPath, "options.LibraryPath");
        else if (getEnv(PyDllVariable) is { Length: > 0 } pydll) (explicitLib, libSource) = (pydll, PyDllVariable);

        string? explicitExe = null, exeSource = null;
        if (!string.IsNullOrEmpty(options.Executable)) (explicitExe, exeSource) = (options.Executable, "options.Executable");
        else if (getEnv(PythonVariable) is { Length: > 0 } exe) (explicitExe, exeSource) = (exe, PythonVariable);

        if (explicitLib is not null)
        {
            if (!File.Exists(explicitLib))
            {
                tried.Add($"{libSource}={explicitLib}: file not found");
                throw new PythonNotFoundException(tried);
            }
            var libPath = Path.GetFullPath(explicitLib);
            Probe? paths = explicitExe is null ? null : TryProbe(explicitExe, options.ProbeTimeout, tried);
            if (paths is not null)
            {
                return new PythonLocation(libPath, paths.Executable, paths.Version, paths.Prefix, paths.BasePrefix, paths.Path, libSource!);
            }
            var (home, version) = GuessHome(libPath);
            string? sibling = home is null || version is null ? null : Path.Combine(home, "bin", "python" + version);
            return new PythonLocation(libPath, File.Exists(sibling) ? sibling : null, version, home, home, [], libSource!);
        }

        var executables = new List<(string Exe, string Source)>();
        if (explicitExe is not null) executables.Add((explicitExe, exeSource!));
        else
        {
            executables.Add(("python3", "python3 on PATH"));
            executables.Add(("/usr/bin/python3", "/usr/bin/python3"));
        }

        foreach (var (exe, source) in executables)
        {
            var probe = TryProbe(exe, options.ProbeTimeout, tried);
            if (probe is null) continue;
            foreach (var candidate in probe.LibraryCandidates())
            {
                if (File.Exists(candidate))
                {
                    return new PythonLocation(candidate, probe.Executable, probe.Version, probe.Prefix,
                        probe.BasePrefix, probe.Path, source);
                }
                tried.Add($"{source} ({exe}, Python {probe.Version}): {candidate} does not exist");
            }
        }
        throw new PythonNotFoundException(tried);
    }

    /// <summary>For a bare library path: <c>&lt;home&gt;/lib[/&lt;multiarch&gt;]/libpythonX.Y.so</c> → (home, "X.Y"),
    /// where home is the nearest ancestor holding <c>lib/pythonX.Y/encodings</c>.</summary>
    internal static (string? Home, string? Version) GuessHome(string libraryPath)
    {
        var name = Path.GetFileName(libraryPath);
        if (!name.StartsWith("libpython", StringComparison.Ordinal)) return (null, null);
        var version = new string(name["libpython".Length..].TakeWhile(c => char.IsDigit(c) || c == '.').ToArray()).TrimEnd('.');
        if (version.Length == 0) return (null, null);
        for (var dir = Path.GetDirectoryName(libraryPath); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (Directory.Exists(Path.Combine(dir, "lib", "python" + version, "encodings"))) return (dir, version);
        }
        return (null, version);
    }

    private static Probe? TryProbe(string exe, TimeSpan timeout, List<string> tried)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(ProbeScript);
        Process? process;
        try
        {
            process = Process.Start(psi);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            tried.Add($"{exe}: cannot start ({e.Message})");
            return null;
        }
        if (process is null)
        {
            tried.Add($"{exe}: cannot start");
            return null;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                tried.Add($"{exe}: probe timed out after {timeout.TotalSeconds:0.#} s");
                return null;
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                tried.Add($"{exe}: probe exited with {process.ExitCode}: {stderr.Result.Trim()}");
                return null;
            }
            try
            {
                using var doc = JsonDocument.Parse(stdout.Result);
                var root = doc.RootElement;
                string? S(string name) => root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                var path = root.GetProperty("path").EnumerateArray().Select(e => e.GetString()!).ToArray();
                return new Probe(S("version")!, S("executable"), S("prefix"), S("base_prefix"), path,
                    S("LIBDIR"), S("INSTSONAME"), S("LDLIBRARY"), S("MULTIARCH"), S("LIBPL"));
            }
            catch (JsonException e)
            {
                tried.Add($"{exe}: unreadable probe output ({e.Message})");
                return null;
            }
        }
    }

    private sealed record Probe(string Version, string? Executable, string? Prefix, string? BasePrefix,
        IReadOnlyList<string> Path, string? LibDir, string? InstSoName, string? LdLibrary, string? MultiArch, string? LibPl)
    {
        public IEnumerable<string> LibraryCandidates()
        {
            var names = new List<string>();
            foreach (var n in new[] { InstSoName, LdLibrary, $"libpython{Version}.so", $"libpython{Version}.so.1.0" })
            {
                if (n is { Length: > 0 } && n.Contains(".so", StringComparison.Ordinal) && !names.Contains(n)) names.Add(n);
            }
            var dirs = new List<string>();
            void Dir(string? d) { if (d is { Length: > 0 } && !dirs.Contains(d)) dirs.Add(d); }
            Dir(LibDir);
            if (LibDir is not null && MultiArch is { Length: > 0 }) Dir(System.IO.Path.Combine(LibDir, MultiArch));
            Dir(LibPl);
            if (BasePrefix is not null)
            {
                Dir(System.IO.Path.Combine(BasePrefix, "lib"));
                if (MultiArch is { Length: > 0 }) Dir(System.IO.Path.Combine(BasePrefix, "lib", MultiArch));
            }
            foreach (var d in dirs)
            {
                foreach (var n in names) yield return System.IO.Path.Combine(d, n);
            }
        }
    }
}
