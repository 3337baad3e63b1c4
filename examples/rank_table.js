#!/usr/bin/env gjs
// Prints the rank table of a feature stack (and of its projections through a head) with
// headrank through GObject Introspection, in JavaScript:
//
//   gjs examples/rank_table.js FEATURES [WEIGHTS [ARCH]]
//
// One line per analysed stage: name, samples, dimension, rank, matrix_rank, effective
// rank (RankMe), participation ratio and components for 90/95/99 % of the variance; then
// the verdict. Errors arrive as GLib.Error: the message goes to standard error and the
// exit status is 1 (2 for bad usage).
//
// Needs GI_TYPELIB_PATH and LD_LIBRARY_PATH to find Headrank-1.0 when headrank is not
// installed in a standard prefix (see README.md, "From Python").
imports.gi.versions.Headrank = '1.0';
const {GLib, Headrank} = imports.gi;
const System = imports.system;

function pad(value, width) {
    const s = String(value);
    return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

function main(args) {
    if (args.length < 1 || args.length > 3) {
        printerr('usage: gjs rank_table.js FEATURES [WEIGHTS [ARCH]]');
        return 2;
    }
    try {
        const reader = Headrank.StackReader.new(args[0], Headrank.StackLayout.AUTO, null);
        const analysis = Headrank.Analysis.new(reader);
        if (args.length > 1)
            analysis.set_head(Headrank.Head.new_from_file(args[1], args[2] ?? null, null, null));
        analysis.run(null, null);

        print(`${'stage'.padEnd(14)}${pad('samples', 8)}${pad('dim', 6)}${pad('rank', 6)}` +
              `${pad('m.rank', 8)}${pad('eff.rank', 9)}${pad('PR', 8)}  PCs 90/95/99%`);
        for (let i = 0; i < analysis.get_n_stages(); i++) {
            const stage = analysis.get_stage(i);
            const spectrum = stage.get_spectrum();
            if (spectrum === null)
                continue; // a stage without a spectrum (analyze --stage none): statistics only
            const pcs = [0.9, 0.95, 0.99].map(f => spectrum.get_components(f)).join('/');
            print(`${stage.get_name().padEnd(14)}${pad(stage.get_n_samples(), 8)}` +
                  `${pad(stage.get_dimension(), 6)}${pad(spectrum.get_rank(), 6)}` +
                  `${pad(spectrum.get_matrix_rank(), 8)}` +
                  `${pad(spectrum.get_effective_rank().toFixed(2), 9)}` +
                  `${pad(spectrum.get_participation_ratio().toFixed(2), 8)}  ${pcs}`);
        }
        for (const line of analysis.describe_verdict())
            print(line);
    } catch (e) {
        if (e instanceof GLib.Error) {
            printerr(`${e.message} (${GLib.quark_to_string(e.domain)}, code ${e.code})`);
            return 1;
        }
        throw e;
    }
    return 0;
}

System.exit(main(ARGV));
