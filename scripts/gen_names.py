#!/usr/bin/env python3
"""Generate src/names/given.txt and src/names/surnames.txt, the person-name dictionary of
pgveil's audit tools (rules init / rules check / scan recognise person names by value).

Sources
-------
* US Census Bureau, "Frequently Occurring Surnames and First Names from the 1990 Census"
  (files dist.male.first, dist.female.first, dist.all.last). Works of the US federal government
  are in the public domain (17 U.S.C. 105). The files are redistributed unchanged inside the
  PyPI package `names` 0.3.0; fetch them with
      pip download --no-deps names==0.3.0 && tar xzf names-0.3.0.tar.gz
  and pass the folder names-0.3.0/names as CENSUS_DIR.
* German, French and Spanish given names and surnames: short lists of very common names compiled
  by hand for pgveil below (names are facts, not copyrightable; this compilation is part of
  pgveil and under its licence).

What is derived (nothing is copied verbatim): every given name of the two first-name files, the
TOP_SURNAMES most frequent surnames, plus the hand lists; lower-cased, with an accent-free variant
of every accented name (`müller` and `muller`), deduplicated and sorted (byte order, so that
diffs stay readable).

Usage: python3 scripts/gen_names.py CENSUS_DIR   (writes into src/names/)
"""
import os
import sys
import unicodedata

TOP_SURNAMES = 20000

GERMAN_GIVEN = """
alexander andreas anja anke anna annette antje barbara bernd birgit brigitte christa christian
christiane christina christine claudia daniel daniela dieter dirk doris elke emma emil erika
frank franz friedrich gabriele georg gerhard gisela günter hannah hans heike heinz helga helmut
herbert horst ingrid jan jens jörg jürgen julia jonas karin karl katharina klaus kerstin lena
leon lukas manfred marco maria marie martin matthias maximilian melanie michael monika nicole
niklas paul peter petra ralf renate sabine sandra sebastian silke stefan stefanie susanne sven
thomas thorsten tobias torsten ulrich ursula uwe walter werner wolfgang yvonne finn felix luca
mia sophie lea laura lina ben elias noah henry ida greta frieda mathilda ole tim tom jannik
""".split()

GERMAN_SURNAMES = """
müller schmidt schneider fischer weber meyer wagner becker schulz hoffmann schäfer koch bauer
richter klein wolf schröder neumann schwarz zimmermann braun krüger hofmann hartmann lange
schmitt werner schmitz krause meier lehmann schmid schulze maier köhler herrmann könig walter
mayer huber kaiser fuchs peters lang scholz möller weiß jung hahn schubert vogel friedrich keller
günther frank berger winkler roth beck lorenz baumann franke albrecht schuster simon ludwig böhm
winter kraus martin schumacher krämer vogt stein jäger otto sommer groß seidel heinrich brandt
haas schreiber graf schulte dietrich ziegler kuhn kühn pohl engel horn busch bergmann thomas voigt
sauer arnold wolff pfeiffer
""".split()

FRENCH_GIVEN = """
jean pierre michel philippe alain nicolas christophe patrick daniel françois bernard christian
éric frédéric laurent stéphane david pascal sébastien julien thierry olivier dominique jacques
thomas alexandre vincent mathieu antoine guillaume hugo louis gabriel arthur jules raphaël léo
lucas adam nathan théo maxime clément baptiste romain quentin marie nathalie isabelle sylvie
catherine françoise martine christine sophie valérie sandrine véronique céline stéphanie
nicole monique chantal brigitte anne émilie julie aurélie camille léa chloé manon inès jade
louise alice lina emma zoé juliette margaux pauline élodie mathilde agathe hélène josette
ginette yvette odile danielle gérard rené marcel andré henri lucien gilles hervé yves didier
""".split()

FRENCH_SURNAMES = """
martin bernard thomas petit robert richard durand dubois moreau laurent simon michel lefebvre
leroy roux david bertrand morel fournier girard bonnet dupont lambert fontaine rousseau vincent
muller lefèvre faure andré mercier blanc guérin boyer garnier chevalier françois legrand gauthier
garcia perrin robin clément morin nicolas henry roussel mathieu gautier masson marchand duval
denis dumont marie lemaire noël meyer dufour meunier brun blanchard giraud joly rivière lucas
brunet gaillard barbier arnaud martinez gérard roche renard schmitt roy leroux colin vidal caron
picard roger fabre aubert lemoine renaud dumas lacroix olivier philippe bourgeois pierre benoît
rey leclerc payet rolland leclercq guillaume lecomte lopez jean dupuis guillot hubert berger
carpentier sanchez dupuy moulin louis deschamps huet vasseur perez boucher fleury royer klein
""".split()

SPANISH_GIVEN = """
antonio josé manuel francisco david juan javier daniel carlos jesús alejandro miguel rafael pablo
pedro ángel sergio fernando jorge luis alberto álvaro diego adrián raúl enrique ramón vicente
iván rubén óscar andrés joaquín santiago eduardo víctor roberto jaime ignacio alfonso salvador
marcos hugo martín mateo lucía sofía martina maría carmen ana isabel dolores pilar teresa rosa
josefa cristina laura marta antonia mercedes francisca lucía elena concepción manuela raquel
sara paula rocío beatriz silvia patricia nuria irene julia alba claudia andrea valeria jimena
ximena guadalupe esperanza consuelo montserrat inmaculada alicia noelia lorena miriam
""".split()

SPANISH_SURNAMES = """
garcía rodríguez gonzález fernández lópez martínez sánchez pérez gómez martín jiménez ruiz
hernández díaz moreno muñoz álvarez romero alonso gutiérrez navarro torres domínguez vázquez
ramos gil ramírez serrano blanco molina morales suárez ortega delgado castro ortiz rubio marín
sanz núñez iglesias medina garrido cortés castillo santos lozano guerrero cano prieto méndez
cruz calvo gallego vidal león márquez herrera peña flores cabrera campos vega fuentes carrasco
diez caballero reyes nieto aguilar pascual santana herrero lorenzo montero hidalgo giménez
ibáñez ferrer durán santiago benítez mora vicente vargas arias carmona crespo román pastor soto
sáez velasco moya soler parra esteban bravo gallardo rojas
""".split()


def fold(s):
    """The name without accents (`müller` → `muller`, `josé` → `jose`), ß as ss."""
    s = s.replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def census(path, limit=None):
    out = []
    with open(path, encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if parts:
                out.append(parts[0].lower())
            if limit and len(out) >= limit:
                break
    return out


def expand(names):
    out = set()
    for n in names:
        n = unicodedata.normalize("NFC", n.strip().lower())
        if not n:
            continue
        out.add(n)
        out.add(fold(n))
    return out


def write(path, names):
    items = sorted(names, key=lambda s: s.encode("utf-8"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(items))
        f.write("\n")
    print(f"{path}: {len(items)} names, {os.path.getsize(path)} bytes")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    given = census(os.path.join(src, "dist.male.first")) + census(
        os.path.join(src, "dist.female.first")
    )
    surnames = census(os.path.join(src, "dist.all.last"), TOP_SURNAMES)
    given = expand(given + GERMAN_GIVEN + FRENCH_GIVEN + SPANISH_GIVEN)
    surnames = expand(surnames + GERMAN_SURNAMES + FRENCH_SURNAMES + SPANISH_SURNAMES)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "names")
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "given.txt"), given)
    write(os.path.join(out, "surnames.txt"), surnames)


if __name__ == "__main__":
    main()
