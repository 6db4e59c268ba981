"""The built-in sample text: an original essay on the history of computing, in plain English prose.

``SAMPLE_TEXT`` is long enough (about 2,600 words; about 3,200 SmolLM2 tokens) for experiments that need
a natural sequence of a thousand tokens or more, such as perplexity under KV-cache eviction. It was written for
SinkVis and is free to use; it is not a repeated sentence, so a language model has real work to do on it.
"""

from __future__ import annotations

__all__ = ["SAMPLE_TEXT", "sample_text"]

SAMPLE_TEXT = """\
A Short History of Thinking Machines

People have counted with their fingers, with pebbles and with knotted cords for as long as there have been \
things worth counting. The abacus, which appeared in several civilisations in slightly different forms, was the \
first device that let an ordinary trader keep a running total faster than he could in his head. It did not \
calculate anything by itself. It held numbers in a form that the hands could change quickly, and it left the \
rules of arithmetic to the person who used it. That division of labour, between a machine that stores and moves \
symbols and a human being who decides what the symbols mean, runs through the whole history of computing.

In the seventeenth century the mathematician Blaise Pascal built a small box of gears that could add and \
subtract. He made it to help his father, a tax official who spent long evenings summing columns of figures. A \
few decades later Gottfried Leibniz designed a machine that could also multiply, using a stepped drum that \
turned a different number of teeth depending on how far it was pushed. Neither machine was a commercial \
success. They were expensive, delicate and hard to repair, and a good clerk with pen and paper was cheaper. \
Still, they showed that the mechanical parts of reasoning could be built out of brass, and Leibniz went further \
in his imagination than in his workshop: he dreamed of a universal language of thought in which arguments could \
be settled by calculation rather than by shouting.

The nineteenth century brought the first designs that look, to modern eyes, like real computers. Charles \
Babbage, an English mathematician with a talent for quarrels, was troubled by the errors in printed tables of \
logarithms and tides. Those tables were computed by teams of people, and every copying mistake ended up in a \
ship's navigation or an engineer's bridge. Babbage proposed a Difference Engine that would compute the tables \
by the method of finite differences and print them directly, removing the human copyist altogether. The \
government funded him for years, and the engine was never finished. By then Babbage had moved on to a far more \
ambitious idea, the Analytical Engine, which would read its instructions from punched cards of the kind used to \
weave patterns on Jacquard looms. It had a store for numbers and a mill for operating on them, and it could \
choose what to do next depending on the result of a calculation. In other words it had memory, a processor and \
conditional branching, a century before anyone built such a thing.

Ada Lovelace, who translated an Italian description of the Analytical Engine and added notes three times longer \
than the original, understood what this meant better than almost anyone of her time. She wrote out a procedure \
for computing Bernoulli numbers on the engine, which is often called the first published program. More \
remarkably, she saw that the machine need not be limited to numbers. If the relations between musical notes, \
she suggested, could be expressed in the engine's notation, it might compose elaborate pieces of music. She also \
warned that the engine could only do what we know how to order it to perform, a caution that has been quoted in \
every argument about machine intelligence since.

For the next several decades computing advanced in offices rather than laboratories. Herman Hollerith built \
electrical tabulating machines to process the American census of 1890, and punched cards became the standard \
way to store business records. Insurance companies, railways and government departments filled rooms with \
sorters and tabulators. The company that grew out of Hollerith's business would later be known as IBM. Much of \
the practical knowledge of how to organise data, how to check it and how to keep a machine running every day \
came from this world of clerks and cards, not from the universities.

The theory arrived in the 1930s. Alan Turing, a young mathematician at Cambridge, wanted to answer a question \
posed by David Hilbert: is there a mechanical procedure that can decide whether any given mathematical \
statement is provable? To make the question precise, Turing described an imaginary machine that reads and \
writes symbols on an endless tape, one square at a time, following a finite table of rules. He showed that one \
such machine, a universal machine, could imitate any other if it was given a description of that machine on its \
tape. He also showed that some questions, such as whether a given machine will ever stop, cannot be answered by \
any machine at all. Alonzo Church reached the same conclusion at about the same time by a different route. \
Between them they drew the boundary of what computation can and cannot do, before a single electronic computer \
existed.

The Second World War turned these ideas into hardware. At Bletchley Park, British codebreakers used \
electromechanical machines called bombes to search for the daily settings of the German Enigma cipher, and later \
built Colossus, an electronic machine with about two thousand vacuum tubes, to attack a more complex teleprinter \
cipher. In the United States, the Army paid for ENIAC, which was designed to compute artillery firing tables. It \
filled a large room, weighed about thirty tons and consumed as much electricity as a small neighbourhood. It was \
programmed by setting switches and plugging cables, a task that fell largely to a group of women mathematicians \
whose contribution was overlooked for decades. Changing the program could take days, even though the \
calculation itself then ran in seconds.

That problem led to the most important architectural idea in the field. If the instructions were stored in the \
same memory as the data, a program could be loaded as quickly as a number and could even modify itself. The \
idea was written up in a report by John von Neumann in 1945, drawing on discussions with the ENIAC engineers, \
and the design it described is still called the von Neumann architecture. The first machines to run stored \
programs appeared in Manchester and Cambridge in 1948 and 1949. The Manchester Baby was tiny and slow, but it \
proved that the principle worked, and within a few years commercial machines such as the UNIVAC and the Ferranti \
Mark 1 were being sold to governments and large companies.

Early computers were unreliable. Vacuum tubes burned out, and engineers learned to predict which ones would fail \
by watching for the ones that ran hot. Memory was the hardest part to build. Designers tried mercury delay \
lines, in which pulses of sound travelled along a tube of liquid metal, and cathode ray tubes that stored bits \
as charged spots on a screen. The magnetic core memory of the 1950s, a grid of tiny iron rings threaded with \
wires, was the first memory that was both fast and dependable, and it was used for twenty years. The word core \
survives in the phrase core dump, long after the last ring was woven.

The transistor, invented at Bell Laboratories in 1947, changed everything slowly and then all at once. It did \
the work of a vacuum tube while using a fraction of the power and lasting far longer. By the late 1950s \
computers were built from thousands of discrete transistors soldered onto circuit boards. Then Jack Kilby and \
Robert Noyce, working independently, showed that several transistors could be made together on a single piece \
of semiconductor, with the wiring between them printed rather than soldered. The integrated circuit made it \
possible to put more and more components in the same space, and Gordon Moore observed in 1965 that the number of \
components on a chip was doubling roughly every year, a rate he later revised to every two years. For half a \
century the industry treated that observation as a plan.

Software grew up alongside the hardware, and it turned out to be the harder problem. The first programmers wrote \
in the binary codes of the machine itself, then in assembly languages that gave each instruction a short name. \
Grace Hopper argued that programs should be written in something closer to English and translated by the \
computer, and she built some of the first compilers to prove that it could be done. FORTRAN, released by IBM in \
1957, let scientists write formulas almost as they would on paper, and it produced code nearly as fast as a \
skilled human could write by hand. COBOL did the same for business records, and LISP, designed by John McCarthy, \
gave researchers in artificial intelligence a language in which programs could manipulate other programs as \
data. Many of the ideas in modern languages, from recursion to garbage collection, were first worked out in \
those years.

As programs grew, so did the failures. Large projects ran years late, cost several times their budgets and \
sometimes never worked at all. At a conference in 1968 the organisers spoke of a software crisis, and the phrase \
software engineering was chosen as a provocation: building programs, they suggested, should become as \
disciplined as building bridges. The discipline that followed brought structured programming, careful \
specification, testing and review, and a long debate about whether writing software is more like engineering, \
mathematics or craft. That debate has never been settled, and most working programmers would say it is a little \
of each.

Operating systems were invented to keep expensive machines busy. In the batch era, programmers handed decks of \
cards to an operator and came back hours later for the printout. Time sharing, developed at MIT and elsewhere in \
the early 1960s, let many people use one computer at once through typewriter terminals, each with the illusion of \
a machine of their own. At Bell Laboratories, Ken Thompson and Dennis Ritchie built Unix on a small, unwanted \
minicomputer, and wrote most of it in a new language called C so that it could be moved to other machines. Unix \
was small enough to understand and open enough to change, and its habits, such as treating everything as a file \
and building large tools out of small ones connected by pipes, spread far beyond the company that made it.

The personal computer came from an unlikely alliance of hobbyists, engineers and entrepreneurs. The \
microprocessor, a whole processor on one chip, was introduced by Intel in 1971 for a calculator company. A few \
years later electronics magazines were selling kits that let enthusiasts build computers on their kitchen \
tables. The Apple II, the Commodore PET and the Tandy TRS-80 were sold ready to use in 1977, and the IBM PC \
followed in 1981. Spreadsheets turned these machines from toys into business tools almost overnight: an \
accountant who could try a dozen scenarios in an afternoon would not go back to paper. Graphical interfaces, \
developed at Xerox PARC with windows, icons and a mouse, reached the public through the Apple Macintosh in 1984 \
and later through Microsoft Windows, and the computer became something that people without any technical \
training could use.

Networks connected the machines to each other. The ARPANET, funded by the United States Department of Defense, \
sent its first message between two universities in 1969. It was built on packet switching, in which a message is \
cut into pieces that travel independently and are reassembled at the other end, so that the network has no \
single point whose failure stops everything. In the 1970s Vint Cerf and Bob Kahn designed the protocols that let \
different networks exchange packets, and the collection of connected networks became the internet. Electronic \
mail was its first popular use. The World Wide Web, proposed by Tim Berners-Lee at CERN in 1989, added a simple \
way to publish documents and link them together, and within a few years a web browser was the reason most people \
bought a computer at all.

Each new generation of hardware made the previous generation's luxuries ordinary. Memory that once cost a fortune \
per kilobyte became too cheap to count, disks grew from megabytes to terabytes, and processors that had been the \
size of refrigerators fitted inside a watch. When the speed of single processors stopped rising in the middle of \
the 2000s, because the chips were becoming too hot, designers put several processors on each chip instead, and \
programmers had to learn to divide their work into pieces that could run at the same time. Graphics processors, \
built to draw the triangles of video games, turned out to be very good at the same arithmetic repeated over large \
arrays, and they found a second life in science and engineering.

That second life is the background of the most recent chapter. The idea of machines that learn from examples is \
as old as computing itself: Turing wrote about it, and the perceptron, a simple learning machine, was built in \
the 1950s. For decades such systems were limited by small data sets and slow computers, and they went in and out \
of fashion. In the 2010s the combination of large collections of text and images, fast graphics processors and \
a few careful improvements to old methods made neural networks suddenly practical. They learned to recognise \
objects in photographs, to transcribe speech and to translate between languages, often better than the programs \
that people had written by hand.

Language models are the latest of these systems. A language model reads a sequence of words, or pieces of \
words called tokens, and predicts the next one. The transformer architecture, introduced in 2017, does this with \
a mechanism called attention: each position in the sequence looks back over all the positions before it and \
decides how much weight to give each one. To avoid recomputing everything for every new token, the model keeps \
the keys and values of earlier positions in a cache. That cache grows with the length of the text, and for long \
documents it can use more memory than the model itself. Deciding which entries to keep and which to throw away \
is an old problem in a new form, the same trade between memory and speed that the designers of delay lines and \
core memory faced seventy years earlier.

Researchers who studied these caches found something curious. Many attention heads give a large share of their \
weight to the very first token of the text, whatever that token happens to be. The first token is not especially \
important for the meaning; it seems to serve as a resting place, a place to put attention when nothing else \
deserves it. If a cache keeps only the most recent tokens and throws the first one away, the model can become \
confused, even though the discarded token carried almost no information. Keeping a handful of these sink tokens \
together with a window of recent ones is enough to let a model read far beyond the length it was trained on. \
It is a small discovery, but a characteristic one. Again and again in the history of computing, progress has \
come from looking closely at what a machine actually does rather than at what its designers assumed it would do.

The story of computing is often told as a series of inventions, each one faster and smaller than the last, but it \
is equally a story about representation. The abacus represented numbers as beads, the punched card represented a \
census return as a pattern of holes, and the stored-program computer represented instructions as numbers, so \
that a program could be treated as data. A language model represents words as lists of numbers and meaning as \
geometry. Each step made something that had been fixed into something that could be stored, copied and changed, \
and each one surprised the people who made it. There is no reason to think the surprises are over. The machines \
still do only what we know how to order them to perform, as Lovelace wrote, but we have become much less sure \
what it is that we have ordered.
"""


def sample_text(words: int | None = None) -> str:
    """The built-in essay, or its first ``words`` words (cut at a word boundary)."""
    if words is None:
        return SAMPLE_TEXT
    if words < 1:
        raise ValueError(f"words must be >= 1; got {words}")
    return " ".join(SAMPLE_TEXT.split()[:words])
